/**
 * A disk that hangs, for real: a FUSE file system that nobody serves, mounted over a directory. The kernel
 * waits for the FUSE daemon's answer to its first request, which never comes, so every stat, open, read or
 * write under the directory blocks in the kernel (killably), as on a hard-mounted NFS share whose server is
 * gone or a dying SD card. Releasing it aborts the connection: the waiting calls fail with ENOTCONN and the
 * mount is detached, so the original directory is back.
 *
 * Linux and root only (mount(2) and /dev/fuse, through FFI); elsewhere {@link hangDirectory} says why not.
 */

/** A hung mount; {@link release} ends it. */
export interface HungDirectory {
  /** Aborts the hung file system and unmounts it (the directory's own contents are back). */
  release(): Promise<void>;
}

const O_RDWR = 2;
const MNT_DETACH = 2;

/** Mounts a file system that never answers over `dir`; a string says why that is not possible here. */
export function hangDirectory(dir: string): HungDirectory | string {
  if (Deno.build.os !== "linux") return "FUSE mounts need Linux";
  if (Deno.uid() !== 0) return "mounting needs root";
  let libc: Deno.DynamicLibrary<{
    open: { parameters: ["buffer", "i32"]; result: "i32" };
    close: { parameters: ["i32"]; result: "i32" };
    mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"]; result: "i32" };
    umount2: { parameters: ["buffer", "i32"]; result: "i32" };
  }>;
  try {
    libc = Deno.dlopen("libc.so.6", {
      open: { parameters: ["buffer", "i32"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
      mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"], result: "i32" },
      umount2: { parameters: ["buffer", "i32"], result: "i32" },
    });
  } catch (error) {
    return `no libc.so.6: ${(error as Error).message}`;
  }
  const text = (s: string) => new TextEncoder().encode(s + "\0");
  const fd = libc.symbols.open(text("/dev/fuse"), O_RDWR);
  if (fd < 0) {
    libc.close();
    return "cannot open /dev/fuse";
  }
  const options = `fd=${fd},rootmode=40000,user_id=0,group_id=0`;
  if (libc.symbols.mount(text("pcns-hung"), text(dir), text("fuse"), 0n, text(options)) !== 0) {
    libc.symbols.close(fd);
    libc.close();
    return `mount(2) of a FUSE file system over ${dir} failed`;
  }
  let released = false;
  return {
    release() {
      if (released) return Promise.resolve();
      released = true;
      libc.symbols.close(fd); // the connection ends: every waiting call fails with ENOTCONN
      libc.symbols.umount2(text(dir), MNT_DETACH);
      libc.close();
      return Promise.resolve();
    },
  };
}
