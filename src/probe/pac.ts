// The probe's PAC evaluation (--pac FILE|URL): upstream/pac.ts, shared with wsgate's own PAC proxies
// (proxies[].pac), so both read and run scripts the same way.
export { findProxyForUrl, loadPacSource } from '../upstream/pac.ts';
