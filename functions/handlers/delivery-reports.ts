import type { HttpRequest, InvocationContext } from '@azure/functions';

import { parseReport, REPORT_TAKEN_BODY } from '../../shared/delivery/report-format.js';
import { readReportFields } from '../../shared/delivery/report-request.js';
import { deliveryEventId, takeReport } from '../../shared/delivery/take-report.js';
import { handleHttp } from '../../shared/http/http.js';
import { maskPhoneNumber } from '../../shared/phone.js';
import { getServices } from '../../shared/services.js';

/**
 * One of Sendmode's delivery reports: `200 True` once it is stored (against its send, or apart
 * when it matches none); `400` when it is malformed (never stored); `503` when it could not be
 * stored, so Sendmode may send it again.
 */
export async function deliveryReports(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'delivery-report', async (log) => {
    const services = await getServices();
    const report = parseReport(
      await readReportFields(request),
      services.settings.DEFAULT_COUNTRY_CODE,
    );
    log.recipient = maskPhoneNumber(report.number);
    log.sendmodeStatus = report.sendmodeStatus;
    const { outcome, suppressed } = await takeReport(report, {
      deliveries: services.deliveries,
      suppression: services.suppression,
      publish: async (data) => {
        await services.events.publish('sms.delivery', data, deliveryEventId(data));
      },
    });
    log.deliveryState = report.state;
    log.matched = outcome.matched;
    if (outcome.matched) log.changed = outcome.changed;
    else log.unmatchedReason = outcome.reason;
    if (suppressed) log.suppressed = true;
    return {
      status: 200,
      headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
      body: REPORT_TAKEN_BODY,
    };
  });
}
