/** The container runtime: create, start, kill, wait, state, delete, exec. */
export {};
