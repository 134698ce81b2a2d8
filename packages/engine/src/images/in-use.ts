/**
 * The `isInUse` check the image service needs, built from the container
 * store: an image is in use while any container (running or not) was
 * created from it, as `docker rmi` decides.
 */
import type { ImageInUse } from '../images.js';

/** The narrow container-store role: list every record with its image id. */
export interface ContainerImageRecords {
  list(opts?: { all?: boolean }): Promise<Array<{ Image: string }>>;
}

/** An {@link ImageInUse} that asks `store` whether a container was created from the image id. */
export function containersUseImage(store: ContainerImageRecords): ImageInUse {
  return async (imageId) => (await store.list({ all: true })).some((r) => r.Image === imageId);
}
