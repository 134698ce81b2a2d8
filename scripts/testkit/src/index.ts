/** @berth/testkit: private test helpers shared by berth's packages. */
export {};
