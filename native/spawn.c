/*
 * build/sandbox-spawn.node: how a one-run Node process (the CLI, run({launcher:'spawn'}), a run in a
 * systemd scope) starts the launcher. A Node-API module, loaded by process.dlopen; it depends on
 * nothing but libc.
 *
 * Why not child_process.spawn: libuv forks. A fork write-protects every page of Node's ~50 MB, so the
 * child's first writes until its execve fault, and so do Node's first writes to each page after it.
 * On a VM where a page fault costs ~15 µs, that was ~10 ms of every `sandbox exec` (bench/README.md).
 * posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK)) shares the address space until the execve and
 * copies nothing. Why not koffi, which the library uses for the syscalls Node lacks: loading it takes
 * ~10 ms, more than this saves; this module loads in under 1 ms.
 *
 * Eight functions, no policy:
 *   pipe()                         → [read end, write end], both close-on-exec
 *   memfd()                        → an anonymous memory file, close-on-exec (the plan, written before
 *                                    the spawn, so the launcher finds it whole when it starts)
 *   spawn(file, argv, envp, fds)   → pid; fds[i] becomes the child's fd i, and it has no other fd
 *   wait(pid)                      → the raw wait status (blocks; see src/launch/spawn.ts for when)
 *   readPipe(fd, onChunk)          → reads the blocking pipe `fd` on a thread of its own until its end,
 *                                    closes it, and hands onChunk each chunk (a Buffer) on the event
 *                                    loop, then null (src/launch/native-pipe-reader.ts says why)
 *   exit(code)                     → _exit(code): the end of a `sandbox exec` whose work is all done and
 *                                    written, without Node's teardown (src/launch/spawn.ts, exitNow)
 *   mapText(path), mapBytes(path)  → a file mapped, as a latin1 string V8 reads in place / a Buffer:
 *                                    the CLI loader's bundle and code cache (scripts/cli-loader.cjs)
 * Failures are thrown as Errors whose code is the errno name (ENOENT…) and whose message names the call.
 *
 * The Node-API declarations below are the few this file uses, with the signatures of Node's ABI-stable
 * C interface (js_native_api.h, node_api.h; Node-API version 8), so the build needs no Node headers —
 * only cc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher.h" /* struct terminals (terminal.c, linked in) */

typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status; /* napi_ok is 0 */
typedef napi_value (*napi_callback)(napi_env env, napi_callback_info info);
#define NAPI_AUTO_LENGTH SIZE_MAX
napi_status napi_create_function(napi_env, const char *, size_t, napi_callback, void *, napi_value *);
napi_status napi_get_cb_info(napi_env, napi_callback_info, size_t *, napi_value *, napi_value *, void **);
napi_status napi_get_value_string_utf8(napi_env, napi_value, char *, size_t, size_t *);
napi_status napi_get_array_length(napi_env, napi_value, uint32_t *);
napi_status napi_get_element(napi_env, napi_value, uint32_t, napi_value *);
napi_status napi_get_value_int32(napi_env, napi_value, int32_t *);
napi_status napi_create_int32(napi_env, int32_t, napi_value *);
napi_status napi_create_array_with_length(napi_env, size_t, napi_value *);
napi_status napi_set_element(napi_env, napi_value, uint32_t, napi_value);
napi_status napi_set_named_property(napi_env, napi_value, const char *, napi_value);
napi_status napi_throw_error(napi_env, const char *, const char *);
typedef struct napi_threadsafe_function__ *napi_threadsafe_function;
typedef void (*napi_finalize)(napi_env, void *, void *);
typedef void (*napi_threadsafe_function_call_js)(napi_env, napi_value, void *, void *);
enum { napi_tsfn_release = 0 };  /* napi_threadsafe_function_release_mode */
enum { napi_tsfn_blocking = 1 }; /* napi_threadsafe_function_call_mode */
napi_status napi_create_threadsafe_function(napi_env, napi_value, napi_value, napi_value, size_t, size_t, void *, napi_finalize, void *,
                                            napi_threadsafe_function_call_js, napi_threadsafe_function *);
napi_status napi_call_threadsafe_function(napi_threadsafe_function, void *, int);
napi_status napi_release_threadsafe_function(napi_threadsafe_function, int);
napi_status napi_create_string_utf8(napi_env, const char *, size_t, napi_value *);
napi_status napi_create_buffer_copy(napi_env, size_t, const void *, void **, napi_value *);
napi_status napi_get_null(napi_env, napi_value *);
napi_status napi_get_undefined(napi_env, napi_value *);
napi_status napi_call_function(napi_env, napi_value, napi_value, size_t, const napi_value *, napi_value *);
napi_status napi_typeof(napi_env, napi_value, int *);
enum { napi_function = 7 }; /* napi_valuetype */
napi_status napi_create_string_latin1(napi_env, const char *, size_t, napi_value *);
napi_status napi_create_external_buffer(napi_env, size_t, void *, napi_finalize, void *, napi_value *);
/* Node ≥ 20.4 (and 18.18); weak, so that on an older Node this module still loads and mapText copies */
__attribute__((weak)) napi_status node_api_create_external_string_latin1(napi_env, char *, size_t, napi_finalize, void *, napi_value *, bool *);

/* Bounds on what a caller may pass: far above a launcher's command line, far below trouble. */
#define MAX_STRINGS 4096
#define MAX_FDS 16

static napi_value throw_errno(napi_env env, const char *call, int err) {
  char msg[160];
  strncpy(msg, call, 64);
  msg[64] = '\0';
  strcat(msg, ": ");
  strncat(msg, strerror(err), sizeof msg - strlen(msg) - 1);
#if __GLIBC_PREREQ(2, 32)
  const char *name = strerrorname_np(err);
#else
  const char *name = NULL; /* the message still says what failed */
#endif
  napi_throw_error(env, name ? name : "ERRNO", msg);
  return NULL;
}

static napi_value int_value(napi_env env, int32_t v) {
  napi_value r;
  return napi_create_int32(env, v, &r) == 0 ? r : NULL;
}

/* A JS string as a malloc'd C string; NULL if it is not a string (or has a NUL inside). */
static char *c_string(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != 0) return NULL;
  char *s = malloc(len + 1);
  if (!s) return NULL;
  if (napi_get_value_string_utf8(env, v, s, len + 1, &len) != 0 || strlen(s) != len) {
    free(s);
    return NULL;
  }
  return s;
}

static void free_strings(char **v) {
  if (!v) return;
  for (char **p = v; *p; p++) free(*p);
  free(v);
}

/* A JS array of strings as a NULL-terminated vector; NULL if it is not one. */
static char **c_strings(napi_env env, napi_value arr) {
  uint32_t n;
  if (napi_get_array_length(env, arr, &n) != 0 || n > MAX_STRINGS) return NULL;
  char **v = calloc((size_t)n + 1, sizeof *v);
  if (!v) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    if (napi_get_element(env, arr, i, &e) != 0 || !(v[i] = c_string(env, e))) {
      free_strings(v);
      return NULL;
    }
  }
  return v;
}

static napi_value js_pipe(napi_env env, napi_callback_info info) {
  int ends[2];
  if (pipe2(ends, O_CLOEXEC) < 0) return throw_errno(env, "pipe2", errno);
  napi_value arr;
  if (napi_create_array_with_length(env, 2, &arr) != 0 || napi_set_element(env, arr, 0, int_value(env, ends[0])) != 0 ||
      napi_set_element(env, arr, 1, int_value(env, ends[1])) != 0) {
    close(ends[0]);
    close(ends[1]);
    return NULL;
  }
  return arr;
}

static napi_value js_memfd(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = memfd_create("sandbox-plan", MFD_CLOEXEC);
  if (fd < 0) return throw_errno(env, "memfd_create", errno);
  return int_value(env, fd);
}

static napi_value js_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != 0 || argc != 4) {
    napi_throw_error(env, "EINVAL", "spawn(file, argv, envp, fds)");
    return NULL;
  }
  char *file = c_string(env, args[0]);
  char **argv = c_strings(env, args[1]);
  char **envp = c_strings(env, args[2]);
  uint32_t nfds = 0;
  int fds[MAX_FDS], moved[MAX_FDS];
  int ok = file && file[0] == '/' && argv && argv[0] && envp && napi_get_array_length(env, args[3], &nfds) == 0 && nfds <= MAX_FDS;
  for (uint32_t i = 0; ok && i < nfds; i++) {
    napi_value e;
    int32_t fd;
    moved[i] = -1;
    ok = napi_get_element(env, args[3], i, &e) == 0 && napi_get_value_int32(env, e, &fd) == 0 && fd >= 0;
    fds[i] = fd;
  }
  napi_value result = NULL;
  if (!ok) {
    napi_throw_error(env, "EINVAL", "spawn: file must be an absolute path, argv and envp arrays of strings, fds at most 16 fds");
    goto out;
  }
  /* The dup2s run in order in the child: an fd that is also a target below nfds (fds = [5, 0]: fd 0
   * is overwritten before it is copied to 1) is first moved above the range, here, close-on-exec. */
  for (uint32_t i = 0; i < nfds; i++) {
    if ((uint32_t)fds[i] >= nfds || (uint32_t)fds[i] == i) continue;
    if ((moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, (int)nfds)) < 0) {
      result = throw_errno(env, "fcntl(F_DUPFD_CLOEXEC)", errno);
      goto out;
    }
    fds[i] = moved[i];
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  /* dup2 onto itself clears close-on-exec (glibc ≥ 2.29), so fds[i] == i is inherited too */
  for (uint32_t i = 0; i < nfds; i++) posix_spawn_file_actions_adddup2(&actions, fds[i], (int)i);
#if __GLIBC_PREREQ(2, 34)
  /* and nothing else: not even an fd some other part of this process left without close-on-exec
   * (older glibc: the launcher closes every fd from 5 up itself, first thing) */
  posix_spawn_file_actions_addclosefrom_np(&actions, (int)nfds);
#endif
  /* Node blocks some signals on its threads and ignores SIGPIPE: the launcher starts as from a shell,
   * with no signal blocked and every disposition the default (as libuv does for a spawned child). */
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid;
  int err = posix_spawn(&pid, file, &actions, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  result = err ? throw_errno(env, file, err) : int_value(env, pid);
out:
  for (uint32_t i = 0; ok && i < nfds; i++)
    if (moved[i] >= 0) close(moved[i]);
  free(file);
  free_strings(argv);
  free_strings(envp);
  return result;
}

static napi_value js_wait(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  int32_t pid;
  if (napi_get_cb_info(env, info, &argc, &arg, NULL, NULL) != 0 || argc != 1 || napi_get_value_int32(env, arg, &pid) != 0 || pid <= 0) {
    napi_throw_error(env, "EINVAL", "wait(pid)");
    return NULL;
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return throw_errno(env, "waitpid", errno);
  return int_value(env, status);
}

/* readPipe: one chunk as read, handed from the reader's thread to the event loop; NULL is the end. */
struct chunk {
  size_t n;
  char data[4096];
};

struct reader {
  int fd;
  napi_threadsafe_function tsfn;
};

/* On the event loop: onChunk(Buffer), or onChunk(null) at the end. env is NULL when Node is tearing
 * the function down (the process is exiting): then only the chunk is freed. */
static void deliver_chunk(napi_env env, napi_value on_chunk, void *context, void *data) {
  (void)context;
  struct chunk *c = data;
  napi_value arg, recv;
  if (env && (c ? napi_create_buffer_copy(env, c->n, c->data, NULL, &arg) : napi_get_null(env, &arg)) == 0 &&
      napi_get_undefined(env, &recv) == 0)
    napi_call_function(env, recv, on_chunk, 1, &arg, NULL);
  free(c);
}

/* The reader's thread: blocking reads, each chunk handed over in order, until the end of the stream or
 * an error (the end either way, as for any pipe of ours). The fd is closed before the end is handed
 * over, so that it is closed by the time JavaScript hears of the end. Handing over blocks while the
 * loop is behind (a queue of 16 chunks), so nothing is dropped; it fails only once Node is closing the
 * function (the process exits), when nothing needs the chunks any more. */
static void *read_until_end(void *arg) {
  struct reader *r = arg;
  for (;;) {
    struct chunk *c = malloc(sizeof *c);
    ssize_t n = -1;
    if (c) { /* without memory for a chunk: the end, as if the stream had ended */
      do n = read(r->fd, c->data, sizeof c->data);
      while (n < 0 && errno == EINTR);
    }
    if (n <= 0) {
      free(c);
      close(r->fd);
      napi_call_threadsafe_function(r->tsfn, NULL, napi_tsfn_blocking);
      break;
    }
    c->n = (size_t)n;
    if (napi_call_threadsafe_function(r->tsfn, c, napi_tsfn_blocking) != 0) {
      free(c);
      close(r->fd);
      break;
    }
  }
  napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
  free(r);
  return NULL;
}

/* Why a thread of its own and not fs.read: fs.read blocks one of libuv's pool threads, and the first
 * pool call of a process starts all four of them (~2 ms of a CLI start on the dev VM, where nothing
 * else uses the pool); node:net reads on the loop itself but costs far more to load. */
static napi_value js_read_pipe(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2], name;
  int32_t fd;
  int type;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != 0 || argc != 2 || napi_get_value_int32(env, args[0], &fd) != 0 || fd < 0 ||
      napi_typeof(env, args[1], &type) != 0 || type != napi_function) {
    napi_throw_error(env, "EINVAL", "readPipe(fd, onChunk)");
    return NULL;
  }
  struct reader *r = malloc(sizeof *r);
  if (!r) return throw_errno(env, "readPipe", ENOMEM);
  r->fd = fd;
  /* a queue of 16 chunks (64 KB) at most: the thread waits for the loop beyond that */
  if (napi_create_string_utf8(env, "sandbox.readPipe", NAPI_AUTO_LENGTH, &name) != 0 ||
      napi_create_threadsafe_function(env, args[1], NULL, name, 16, 1, NULL, NULL, NULL, deliver_chunk, &r->tsfn) != 0) {
    free(r);
    napi_throw_error(env, "ERRNO", "readPipe: cannot create a thread-safe function");
    return NULL;
  }
  /* The thread takes no signal (they stay the main thread's: Node's handlers), and needs little stack. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t thread;
  int err = pthread_create(&thread, &attr, read_until_end, r);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (err) {
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
    free(r);
    return throw_errno(env, "pthread_create", err);
  }
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

/*
 * What Node saves of fds 0-2 at its start and puts back in an atexit handler (ResetStdio), which _exit
 * skips, as this module found them when it was loaded (by the CLI's loader, first thing):
 *  - each one's O_NONBLOCK: libuv sets it on a pipe when Node makes process.stdout or stderr a stream
 *    (a failed run's message, --json), and the flag belongs to the open file, which the caller shares:
 *    left set, the next process writing to that pipe (`sandbox exec --json … | jq` in a script, then
 *    anything else into the same pipe) gets EAGAIN;
 *  - the terminals' settings (terminal.c).
 */
static struct {
  int flags; /* -1: not open */
  dev_t dev;
  ino_t ino;
} stdio_at_load[3];
static struct terminals terminals_at_load;

/* Once per process: should this module be loaded a second time, it must not take what Node may have
 * changed in between for the state to go back to. */
static void save_stdio(void) {
  static int saved;
  if (saved) return;
  saved = 1;
  for (int fd = 0; fd <= 2; fd++) {
    struct stat st;
    stdio_at_load[fd].flags = -1;
    if (fstat(fd, &st) < 0) continue;
    stdio_at_load[fd].flags = fcntl(fd, F_GETFL);
    stdio_at_load[fd].dev = st.st_dev;
    stdio_at_load[fd].ino = st.st_ino;
  }
  terminals_save(&terminals_at_load);
}

static void restore_stdio(void) {
  for (int fd = 0; fd <= 2; fd++) {
    struct stat st;
    int was = stdio_at_load[fd].flags, now;
    /* only the file it was (a program may have put another one there), only the one flag */
    if (was < 0 || fstat(fd, &st) < 0 || st.st_dev != stdio_at_load[fd].dev || st.st_ino != stdio_at_load[fd].ino) continue;
    if ((now = fcntl(fd, F_GETFL)) >= 0 && ((now ^ was) & O_NONBLOCK)) (void)fcntl(fd, F_SETFL, (now & ~O_NONBLOCK) | (was & O_NONBLOCK));
  }
  terminals_restore(&terminals_at_load);
}

/* exit(code): _exit, so none of Node's exit path runs (platform threads joined, OpenSSL's and the
 * static destructors, libuv's shutdown): ~4 ms of a `sandbox exec` on the dev VM. The caller has
 * already run the process's 'exit' listeners and waited for its writes. One piece of Node's exit is
 * kept: fds 0-2 are put back as they were (restore_stdio). For terminals that is also what covers a
 * launcher SIGKILLed mid-run (an OOM kill of a cgroup v2 group with memory.oom.group takes it too),
 * which could not restore them itself. */
static napi_value js_exit(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  int32_t code = 0;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != 0 || argc < 1 || napi_get_value_int32(env, args[0], &code) != 0) {
    napi_throw_error(env, "EINVAL", "exit(code)");
    return NULL;
  }
  restore_stdio();
  _exit(code & 0xff);
}

/* The file at path (a C string from args[0]) mapped private, whole; *len its size. NULL with a thrown
 * error if it cannot be, or is empty (nothing to map: the caller reads it the usual way). */
static void *map_file(napi_env env, napi_callback_info info, int prot, size_t *len) {
  size_t argc = 1;
  napi_value args[1];
  char *path = NULL;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != 0 || argc != 1 || !(path = c_string(env, args[0]))) {
    napi_throw_error(env, "EINVAL", "mapText(path) and mapBytes(path) take a path");
    return NULL;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  free(path);
  if (fd < 0) return throw_errno(env, "open", errno), NULL;
  struct stat st;
  void *data = MAP_FAILED;
  int err = fstat(fd, &st) < 0 ? errno : !S_ISREG(st.st_mode) || st.st_size == 0 ? EINVAL : 0;
  if (!err && (data = mmap(NULL, (size_t)st.st_size, prot, MAP_PRIVATE, fd, 0)) == MAP_FAILED) err = errno;
  close(fd);
  if (err) return throw_errno(env, "map", err), NULL;
  *len = (size_t)st.st_size;
  return data;
}

static void unmap(napi_env env, void *data, void *len) {
  (void)env;
  munmap(data, (size_t)(uintptr_t)len);
}

/* mapText(path) → the file's bytes as a latin1 string that V8 reads where the file is mapped (an
 * external string): the loader's bundle, whose text is not copied into a buffer and again into the
 * young generation (~150 fewer page faults at each start; bench/README.md, session 10). The
 * file is the package's own, written by its build: only its owner could change it under the mapping,
 * and could as well change the file before it is read. V8 reads a function's text again whenever it
 * compiles it (lazily, or after flushing its bytecode), so like a shared library the file must be
 * replaced, never rewritten in place (a run in progress would lose the pages: SIGBUS);
 * scripts/bundle-cli.mjs does so, and npm replaces a package's files. A copy into memory of our own
 * would be immune, but cost ~2 ms a start here (100 more pages; compare.js, 200 rounds). */
static napi_value js_map_text(napi_env env, napi_callback_info info) {
  size_t len;
  char *data = map_file(env, info, PROT_READ, &len);
  if (!data) return NULL;
  napi_value result = NULL;
  bool copied;
  /* Made, it owns the mapping: unmap runs when V8 drops the string — or at once, if Node copied it
   * (a Node built with V8's sandbox does), which is why a made string is returned either way. */
  if (node_api_create_external_string_latin1 &&
      node_api_create_external_string_latin1(env, data, len, unmap, (void *)(uintptr_t)len, &result, &copied) == 0)
    return result;
  /* a Node before 20.4 (the function is absent), or it failed: a copy, and the mapping goes */
  if (napi_create_string_latin1(env, data, len, &result) != 0) result = NULL;
  munmap(data, len);
  return result;
}

/* mapBytes(path) → a Buffer over the file mapped private (writes to it are the process's own copy):
 * the loader's V8 code cache, which V8 only reads. */
static napi_value js_map_bytes(napi_env env, napi_callback_info info) {
  size_t len;
  void *data = map_file(env, info, PROT_READ | PROT_WRITE, &len);
  if (!data) return NULL;
  napi_value result;
  if (napi_create_external_buffer(env, len, data, unmap, (void *)(uintptr_t)len, &result) != 0) {
    munmap(data, len);
    napi_throw_error(env, "ERRNO", "mapBytes: cannot create the buffer");
    return NULL;
  }
  return result;
}

__attribute__((visibility("default"))) int32_t node_api_module_get_api_version_v1(void) { return 8; }

__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  save_stdio();
  static const struct { const char *name; napi_callback cb; } fns[] = {{"pipe", js_pipe}, {"memfd", js_memfd}, {"spawn", js_spawn}, {"wait", js_wait}, {"readPipe", js_read_pipe}, {"exit", js_exit},
                                                                   {"mapText", js_map_text}, {"mapBytes", js_map_bytes}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &f) != 0 ||
        napi_set_named_property(env, exports, fns[i].name, f) != 0)
      return NULL;
  }
  return exports;
}
