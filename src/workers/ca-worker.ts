/**
 * Piscina entry point of the CA pool (separate from the config pool, ARCHITECTURE §1 rule 6):
 * one job = one CSR. Never throws: failures come back as `{ ok: false, error }`.
 */
import { CaToMain, MainToCa } from '../shared/ca/messages';
import { signCsr } from './ca/sign-csr';

export default function caWorker(job: MainToCa): CaToMain {
  try {
    return signCsr(job);
  } catch (e) {
    return { id: job.id, ok: false, error: { code: 'CERT_GEN_ERROR', message: e instanceof Error ? e.message : String(e) } };
  }
}
