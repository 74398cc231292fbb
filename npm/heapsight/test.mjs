// ES module entry of heapsight/test: the same functions as the CommonJS one.
import helper from './test.js';

export const { expectNoLeaks, LeakError } = helper;
export default helper;
