/** cgroups v1 and v2 behind one manager interface. */
export {};
