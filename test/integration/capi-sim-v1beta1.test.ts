import { simulatorSuite } from './support/capi-suite.ts';

simulatorSuite('v1beta1');
