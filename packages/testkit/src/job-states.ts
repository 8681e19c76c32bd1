/**
 * The BullMQ states of a job that has not finished yet: waiting (also under a priority, behind
 * children or in a paused queue), running, or scheduled for a retry. A queue with none of them is
 * drained.
 */
export const UNFINISHED_JOB_STATES = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
  'paused',
] as const;
