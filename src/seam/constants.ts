// The constants both sides of the seam use, from one place: native/constants.json, which the addon is built
// with and src/binding.ts reads for the portable kernel too.
export { constants } from '../binding';
