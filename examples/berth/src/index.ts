/** The berth command-line engine. */
export {};
