/**
 * What every Sendmode API generation's client offers (`SendmodeApi`) and the requests and answers
 * it takes and gives, in the app's terms. The wire formats live in client-v2.ts and client-v3.ts.
 */
import type { SendmodeApiVersion } from '../settings.js';

export interface SendSmsRequest {
  messagetext: string;
  recipients: string[];
  senderid?: string;
  customerid?: string;
  scheduledate?: string;
}

export interface SendSmsResult {
  status: string;
  statusCode: number;
  acceptedDateTime?: string;
  message?: {
    senderid?: string;
    messagetext?: string;
    customerid?: string;
    scheduledate?: string;
    recipients?: string[];
  };
}

export interface CreditsResult {
  status: string;
  statusCode: number;
  balance: number;
}

export interface Customer {
  mobilenumber: string;
  firstname?: string;
  surname?: string;
  address?: string;
  town?: string;
  county?: string;
  email?: string;
  custom1?: string;
  custom2?: string;
  businessname?: string;
  /** dd/mm/yyyy */
  dateofbirth?: string;
}

export interface ImportCustomerRequest {
  group: string;
  importdata: Customer;
}

export interface ImportCustomerResult {
  status: string;
  statusCode: number;
  acceptedDateTime?: string;
  group?: string;
  importdata?: Partial<Customer>;
}

export interface OptOutRequest {
  mobilenumber: string;
  optoutresponse?: string;
  returnedresponse?: string;
}

export interface OptOutResult {
  status: string;
  statusCode: number;
  acceptedDateTime?: string;
  mobilenumber?: string;
  optoutreason?: string;
}

/** One method per upstream operation; every call takes the API key it should use. */
export interface SendmodeApi {
  /** The API generation this client speaks (SENDMODE_API_VERSION). */
  readonly version: SendmodeApiVersion;
  send(apiKey: string, request: SendSmsRequest): Promise<SendSmsResult>;
  credits(apiKey: string): Promise<CreditsResult>;
  importCustomer(apiKey: string, request: ImportCustomerRequest): Promise<ImportCustomerResult>;
  optOut(apiKey: string, request: OptOutRequest): Promise<OptOutResult>;
  close(): Promise<void>;
}
