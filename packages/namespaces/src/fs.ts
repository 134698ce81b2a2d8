/** Filesystem syscalls Node lacks, for @berth/cow-fs. */
export {};
