/** The `optout.changed` producer: a change the suppression list applied, as its event's data. */
import type { AppliedChange } from '../opt-outs/suppression.js';
import { maskPhoneNumber } from '../phone.js';
import type { EventData } from './event-types.js';

export function optOutChangedData(change: AppliedChange): EventData<'optout.changed'> {
  return {
    number: change.number,
    maskedNumber: maskPhoneNumber(change.number),
    action: change.action,
    source: change.source,
    at: change.at,
  };
}
