/** The path of the heapsight binary: HEAPSIGHT_BIN, then the platform package, then PATH. */
export function binaryPath(): string;
/** The npm package that carries the binary for a platform (`@heapsight/linux-x64`). */
export function platformPackage(platform?: string, arch?: string): string;
