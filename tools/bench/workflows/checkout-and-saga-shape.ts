/** The bundle of tools/bench/checkout-worker.ts: the production workflows and the saga-shaped variants. */
export * from '../../../src/workflows';
export { localSagaShapeWorkflow, sagaShapeWorkflow } from './saga-shape';
