/**
 * @berth/engine. See README.md for its place in the package graph.
 */
export {};
