// `shmkit/express-rate-limit`: being built (issue 14).
export type { DictOption, DictByName } from '../dict-option.js';
