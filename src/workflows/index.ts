/** The workflow bundle's entry: every workflow the worker runs, and nothing else. */
export { checkoutWorkflow } from './checkout';
export { refundWorkflow } from './refund';
