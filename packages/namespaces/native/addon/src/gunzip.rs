//! A streaming gzip decoder on Intel ISA-L (`isal_inflate`), loaded at run
//! time with dlopen("libisal.so.2") so the addon still loads without it.
//!
//! JavaScript drives it (`src/gunzip.ts`): `gunzipCreate(sha256)` returns a
//! handle; `gunzipRun(handle, input, inOff, inLen, output, outOff, outLen)`
//! inflates on a libuv pool thread (napi async work) into the caller's
//! output buffer and resolves `{ consumed, produced, atEnd }`; the caller
//! keeps both buffers alive and runs one call at a time; `gunzipFinish`
//! checks the stream ended at a member boundary and returns the sha256 of
//! the output when asked for. Output is bounded by the caller's buffer:
//! that is the back-pressure.
//!
//! Gzip framing follows Node's zlib (`zlib.createGunzip`): ISA-L parses each
//! member's header and checks its CRC32 and ISIZE (`crc_flag = ISAL_GZIP`);
//! after a member, a zero byte ends the stream (padding: the rest is
//! ignored), anything else starts another member (garbage fails there).
//!
//! The same handle functions drive a zstd decoder on libzstd.so.1 (also
//! dlopen'd): `zstdCreate(sha256)` returns a handle for `gunzipRun` and
//! `gunzipFinish`; frames in a row are concatenated, checksums checked by
//! libzstd, and input that ends inside a frame is an error.
//!
//! The sha256 of the output (a layer's diffId) is optionally computed on the
//! same pool thread with the OpenSSL that Node exports (SHA256_Init/Update/
//! Final, found with dlsym in the process); when those are missing the
//! caller hashes instead.
use crate::napi::{self, check, napi_env, napi_status, napi_value, valuetype, Env, Field, JsError, JsResult};
use std::ffi::{c_void, CStr};
use std::ptr;
use std::sync::{Arc, Mutex, OnceLock};

/// Field offsets of `struct inflate_state` and the constants used, probed by build.rs.
#[derive(Clone, Copy)]
#[allow(dead_code)]
pub struct IsalLayout {
    size: usize,
    next_out: usize,
    avail_out: usize,
    total_out: usize,
    next_in: usize,
    avail_in: usize,
    block_state: usize,
    crc_flag: usize,
    crc: usize,
    block_finish: i32,
    gzip: u32,
    decomp_ok: i32,
    incorrect_checksum: i32,
}

include!(concat!(env!("OUT_DIR"), "/isal_layout.rs"));

type InitFn = unsafe extern "C" fn(*mut c_void);
type InflateFn = unsafe extern "C" fn(*mut c_void) -> i32;
type ShaInitFn = unsafe extern "C" fn(*mut c_void) -> i32;
type ShaUpdateFn = unsafe extern "C" fn(*mut c_void, *const c_void, usize) -> i32;
type ShaFinalFn = unsafe extern "C" fn(*mut u8, *mut c_void) -> i32;

struct Isal {
    init: InitFn,
    inflate: InflateFn,
    layout: IsalLayout,
}

struct Sha {
    init: ShaInitFn,
    update: ShaUpdateFn,
    finish: ShaFinalFn,
}

static ISAL: OnceLock<Result<Isal, String>> = OnceLock::new();
static ZSTD: OnceLock<Result<Zstd, String>> = OnceLock::new();

#[repr(C)]
struct ZstdInBuffer {
    src: *const c_void,
    size: usize,
    pos: usize,
}

#[repr(C)]
struct ZstdOutBuffer {
    dst: *mut c_void,
    size: usize,
    pos: usize,
}

type ZstdCreateFn = unsafe extern "C" fn() -> *mut c_void;
type ZstdFreeFn = unsafe extern "C" fn(*mut c_void) -> usize;
type ZstdDecompressFn = unsafe extern "C" fn(*mut c_void, *mut ZstdOutBuffer, *mut ZstdInBuffer) -> usize;
type ZstdIsErrorFn = unsafe extern "C" fn(usize) -> u32;
type ZstdErrorNameFn = unsafe extern "C" fn(usize) -> *const std::ffi::c_char;

/// The libzstd streaming decoder functions (a stable ABI).
struct Zstd {
    create: ZstdCreateFn,
    free: ZstdFreeFn,
    decompress: ZstdDecompressFn,
    is_error: ZstdIsErrorFn,
    error_name: ZstdErrorNameFn,
}

/// A known frame (`"berth: zstd decode self-test, "` × 2) decoded once at load.
const ZSTD_SELF_TEST: [u8; 46] = [
    40, 181, 47, 253, 0, 88, 45, 1, 0, 240, 98, 101, 114, 116, 104, 58, 32, 122, 115, 116, 100, 32, 100, 101, 99, 111, 100, 101, 32, 115, 101, 108, 102, 45,
    116, 101, 115, 116, 44, 32, 1, 0, 6, 81, 57, 1,
];

fn load_zstd() -> Result<Zstd, String> {
    let h = unsafe { libc::dlopen(c"libzstd.so.1".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if h.is_null() {
        return Err(dl_error());
    }
    let f = |name: &CStr| {
        let p = unsafe { sym(h, name) };
        if p.is_null() {
            Err(format!("libzstd.so.1 lacks {}", name.to_string_lossy()))
        } else {
            Ok(p)
        }
    };
    let z = unsafe {
        Zstd {
            create: std::mem::transmute::<*mut c_void, ZstdCreateFn>(f(c"ZSTD_createDStream")?),
            free: std::mem::transmute::<*mut c_void, ZstdFreeFn>(f(c"ZSTD_freeDStream")?),
            decompress: std::mem::transmute::<*mut c_void, ZstdDecompressFn>(f(c"ZSTD_decompressStream")?),
            is_error: std::mem::transmute::<*mut c_void, ZstdIsErrorFn>(f(c"ZSTD_isError")?),
            error_name: std::mem::transmute::<*mut c_void, ZstdErrorNameFn>(f(c"ZSTD_getErrorName")?),
        }
    };
    let mut d = Inflater::new_zstd(&z, false).ok_or("ZSTD_createDStream failed")?;
    let mut out = vec![0u8; 256];
    let expected = b"berth: zstd decode self-test, ".repeat(2);
    let ok = matches!(d.run_zstd(&z, &ZSTD_SELF_TEST, &mut out), Ok((c, p)) if c == ZSTD_SELF_TEST.len() && out[..p] == expected[..]) && d.finish().is_ok();
    d.free_zstd(&z);
    if ok {
        Ok(z)
    } else {
        Err("libzstd.so.1 failed the decode self-test".to_string())
    }
}

fn zstd() -> Result<&'static Zstd, String> {
    ZSTD.get_or_init(load_zstd).as_ref().map_err(|e| e.clone())
}
static SHA: OnceLock<Option<Sha>> = OnceLock::new();

/// Room for OpenSSL's SHA256_CTX (112 bytes), with margin.
const SHA_CTX_WORDS: usize = 64;

unsafe fn sym(handle: *mut c_void, name: &CStr) -> *mut c_void {
    libc::dlsym(handle, name.as_ptr())
}

fn dl_error() -> String {
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown dlopen error".to_string()
    } else {
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

/// A known member (`"berth: isa-l inflate self-test, "` × 8) inflated once at load.
const SELF_TEST: [u8; 55] = [
    31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 75, 74, 45, 42, 201, 176, 82, 200, 44, 78, 212, 205, 81, 200, 204, 75, 203, 73, 44, 73, 85, 40, 78, 205, 73, 211, 45,
    73, 45, 46, 209, 81, 72, 26, 230, 242, 0, 229, 2, 117, 84, 0, 1, 0, 0,
];

fn load_isal() -> Result<Isal, String> {
    let layout = ISAL_LAYOUT.ok_or_else(|| "the addon was built without the ISA-L header (libisal-dev)".to_string())?;
    let h = unsafe { libc::dlopen(c"libisal.so.2".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if h.is_null() {
        return Err(dl_error());
    }
    let init = unsafe { sym(h, c"isal_inflate_init") };
    let inflate = unsafe { sym(h, c"isal_inflate") };
    if init.is_null() || inflate.is_null() {
        return Err("libisal.so.2 lacks isal_inflate_init or isal_inflate".to_string());
    }
    let isal = Isal {
        init: unsafe { std::mem::transmute::<*mut c_void, InitFn>(init) },
        inflate: unsafe { std::mem::transmute::<*mut c_void, InflateFn>(inflate) },
        layout,
    };
    // The library found at run time must agree with the header the layout came from.
    let mut inf = Inflater::new(&isal, false);
    let mut out = vec![0u8; 512];
    let expected = b"berth: isa-l inflate self-test, ".repeat(8);
    match inf.run(&isal, &SELF_TEST, &mut out) {
        Ok((consumed, produced)) if consumed == SELF_TEST.len() && out[..produced] == expected[..] && inf.phase == Phase::Boundary => Ok(isal),
        _ => Err("libisal.so.2 failed the inflate self-test (header and library disagree)".to_string()),
    }
}

fn isal() -> Result<&'static Isal, String> {
    ISAL.get_or_init(load_isal).as_ref().map_err(|e| e.clone())
}

fn sha() -> Option<&'static Sha> {
    SHA.get_or_init(|| unsafe {
        let init = sym(libc::RTLD_DEFAULT, c"SHA256_Init");
        let update = sym(libc::RTLD_DEFAULT, c"SHA256_Update");
        let finish = sym(libc::RTLD_DEFAULT, c"SHA256_Final");
        if init.is_null() || update.is_null() || finish.is_null() {
            return None;
        }
        Some(Sha {
            init: std::mem::transmute::<*mut c_void, ShaInitFn>(init),
            update: std::mem::transmute::<*mut c_void, ShaUpdateFn>(update),
            finish: std::mem::transmute::<*mut c_void, ShaFinalFn>(finish),
        })
    })
    .as_ref()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Nothing read yet.
    Start,
    /// Inside a member.
    Member,
    /// Right after a member's trailer.
    Boundary,
    /// Zero padding followed a member: the rest of the input is ignored.
    Done,
}

struct Inflater {
    /// `struct inflate_state`, 8-byte aligned (empty for zstd).
    state: Vec<u64>,
    phase: Phase,
    sha_ctx: Option<Vec<u64>>,
    /// The libzstd stream when this decodes zstd.
    zstd: Option<ZstdState>,
}

struct ZstdState {
    ds: *mut c_void,
    /// Some input was decoded.
    started: bool,
    /// The last call left a frame unfinished (more input or output to come).
    in_frame: bool,
}

// The stream is only used under the handle's mutex, by one thread at a time.
unsafe impl Send for ZstdState {}

impl Drop for Inflater {
    fn drop(&mut self) {
        if self.zstd.is_some() {
            if let Ok(z) = zstd() {
                self.free_zstd(z);
            }
        }
    }
}

/// A failure of `isal_inflate`: the stream is not valid gzip.
fn corrupt(message: &str, isal_code: i32) -> JsError {
    JsError::new("ERR_NS_GZIP_CORRUPT", message).with("isalError", Field::Int(isal_code as i64))
}

impl Inflater {
    fn new(isal: &Isal, sha256: bool) -> Inflater {
        let words = isal.layout.size.div_ceil(8);
        let sha_ctx = if sha256 {
            sha().map(|s| {
                let mut ctx = vec![0u64; SHA_CTX_WORDS];
                unsafe { (s.init)(ctx.as_mut_ptr() as *mut c_void) };
                ctx
            })
        } else {
            None
        };
        Inflater { state: vec![0u64; words], phase: Phase::Start, sha_ctx, zstd: None }
    }

    fn sha_ctx(sha256: bool) -> Option<Vec<u64>> {
        if !sha256 {
            return None;
        }
        sha().map(|s| {
            let mut ctx = vec![0u64; SHA_CTX_WORDS];
            unsafe { (s.init)(ctx.as_mut_ptr() as *mut c_void) };
            ctx
        })
    }

    fn new_zstd(z: &Zstd, sha256: bool) -> Option<Inflater> {
        let ds = unsafe { (z.create)() };
        if ds.is_null() {
            return None;
        }
        Some(Inflater { state: Vec::new(), phase: Phase::Start, sha_ctx: Self::sha_ctx(sha256), zstd: Some(ZstdState { ds, started: false, in_frame: false }) })
    }

    fn free_zstd(&mut self, z: &Zstd) {
        if let Some(st) = self.zstd.take() {
            unsafe { (z.free)(st.ds) };
        }
    }

    fn hash(&mut self, bytes: &[u8]) {
        if let Some(ctx) = self.sha_ctx.as_mut() {
            if !bytes.is_empty() {
                let s = sha().expect("sha256 context without sha256");
                unsafe { (s.update)(ctx.as_mut_ptr() as *mut c_void, bytes.as_ptr() as *const c_void, bytes.len()) };
            }
        }
    }

    /// Decodes zstd from `input` into `output` until the input is used up or the output is
    /// full (and nothing is left to flush); returns (consumed, produced).
    fn run_zstd(&mut self, z: &Zstd, input: &[u8], output: &mut [u8]) -> JsResult<(usize, usize)> {
        let mut i = 0usize;
        let mut o = 0usize;
        loop {
            if o == output.len() {
                break;
            }
            let st = self.zstd.as_mut().expect("zstd state");
            let mut inb = ZstdInBuffer { src: unsafe { input.as_ptr().add(i) } as *const c_void, size: input.len() - i, pos: 0 };
            let mut outb = ZstdOutBuffer { dst: unsafe { output.as_mut_ptr().add(o) } as *mut c_void, size: output.len() - o, pos: 0 };
            let ret = unsafe { (z.decompress)(st.ds, &mut outb, &mut inb) };
            if unsafe { (z.is_error)(ret) } != 0 {
                let name = unsafe { CStr::from_ptr((z.error_name)(ret)) }.to_string_lossy().into_owned();
                return Err(JsError::new("ERR_NS_ZSTD_CORRUPT", format!("zstd stream: {name}")));
            }
            if inb.pos > 0 || outb.pos > 0 {
                // Only a call that moved says where we are: with no input at a frame boundary,
                // libzstd returns the size of the next frame's header as a hint.
                st.started = true;
                st.in_frame = ret != 0;
            }
            let (ci, co) = (inb.pos, outb.pos);
            self.hash(&output[o..o + co]);
            i += ci;
            o += co;
            if ci == 0 && co == 0 {
                if i < input.len() {
                    // libzstd buffers what it cannot use yet, so with room on both sides it moves.
                    return Err(JsError::new("ERR_NS_ZSTD_CORRUPT", "zstd stream: decoder made no progress"));
                }
                break;
            }
        }
        Ok((i, o))
    }

    fn base(&mut self) -> *mut u8 {
        self.state.as_mut_ptr() as *mut u8
    }

    unsafe fn put<T>(&mut self, off: usize, v: T) {
        ptr::write_unaligned(self.base().add(off) as *mut T, v)
    }

    unsafe fn get<T: Copy>(&mut self, off: usize) -> T {
        ptr::read_unaligned(self.base().add(off) as *const T)
    }

    fn begin_member(&mut self, isal: &Isal) {
        unsafe {
            (isal.init)(self.base() as *mut c_void);
            self.put::<u32>(isal.layout.crc_flag, isal.layout.gzip);
        }
        self.phase = Phase::Member;
    }

    /// Inflates from `input` into `output` until the input is used up, the
    /// output is full, or the stream is done; returns (consumed, produced).
    fn run(&mut self, isal: &Isal, input: &[u8], output: &mut [u8]) -> JsResult<(usize, usize)> {
        let l = isal.layout;
        let mut i = 0usize;
        let mut o = 0usize;
        loop {
            match self.phase {
                Phase::Done => {
                    i = input.len();
                    break;
                }
                Phase::Start | Phase::Boundary => {
                    if i == input.len() {
                        break;
                    }
                    if self.phase == Phase::Boundary && input[i] == 0 {
                        self.phase = Phase::Done;
                        continue;
                    }
                    self.begin_member(isal);
                }
                Phase::Member => {}
            }
            if o == output.len() || i == input.len() {
                break;
            }
            let in_len = u32::try_from(input.len() - i).unwrap_or(u32::MAX);
            let out_len = u32::try_from(output.len() - o).unwrap_or(u32::MAX);
            let ret;
            let (after_in, after_out, finished);
            unsafe {
                let in_ptr = input.as_ptr().add(i);
                let out_ptr = output.as_mut_ptr().add(o);
                self.put::<*const u8>(l.next_in, in_ptr);
                self.put::<u32>(l.avail_in, in_len);
                self.put::<*mut u8>(l.next_out, out_ptr);
                self.put::<u32>(l.avail_out, out_len);
                ret = (isal.inflate)(self.base() as *mut c_void);
                let ni: *const u8 = self.get(l.next_in);
                let no: *mut u8 = self.get(l.next_out);
                after_in = ni.offset_from(in_ptr) as usize;
                after_out = no.offset_from(out_ptr) as usize;
                finished = self.get::<i32>(l.block_state) == l.block_finish;
            }
            if let Some(ctx) = self.sha_ctx.as_mut() {
                if after_out > 0 {
                    let s = sha().expect("sha256 context without sha256");
                    unsafe { (s.update)(ctx.as_mut_ptr() as *mut c_void, output.as_ptr().add(o) as *const c_void, after_out) };
                }
            }
            i += after_in;
            o += after_out;
            if ret < l.decomp_ok {
                let what = if ret == l.incorrect_checksum { "gzip stream: incorrect data check (crc32 or length)" } else { "gzip stream: invalid data" };
                return Err(corrupt(what, ret));
            }
            if finished {
                self.phase = Phase::Boundary;
                continue;
            }
            if after_in == 0 && after_out == 0 {
                // ISA-L buffers partial headers and bits, so with room on both sides it always
                // moves; a stall would loop forever in the caller.
                return Err(corrupt("gzip stream: decoder made no progress", ret));
            }
        }
        Ok((i, o))
    }

    /// Checks the stream ended at a member (or frame) boundary; the sha256 of the output when kept.
    fn finish(&mut self) -> JsResult<Option<[u8; 32]>> {
        if let Some(st) = self.zstd.as_ref() {
            if !st.started || st.in_frame {
                return Err(JsError::new("ERR_NS_ZSTD_CORRUPT", "zstd stream: unexpected end of input"));
            }
        } else {
            match self.phase {
                Phase::Boundary | Phase::Done => {}
                Phase::Start | Phase::Member => return Err(corrupt("gzip stream: unexpected end of file", 0)),
            }
        }
        Ok(self.sha_ctx.take().map(|mut ctx| {
            let mut md = [0u8; 32];
            let s = sha().expect("sha256 context without sha256");
            unsafe { (s.finish)(md.as_mut_ptr(), ctx.as_mut_ptr() as *mut c_void) };
            md
        }))
    }
}

type Shared = Arc<Mutex<Inflater>>;

unsafe extern "C" fn finalize_handle(_env: napi_env, data: *mut c_void, _hint: *mut c_void) {
    drop(Box::from_raw(data as *mut Shared));
}

fn handle_arg(env: Env, v: napi_value) -> JsResult<Shared> {
    if env.type_of(v)? != valuetype::EXTERNAL {
        return Err(JsError::invalid("expected a gunzip handle"));
    }
    let mut data = ptr::null_mut();
    check(unsafe { napi::napi_get_value_external(env.0, v, &mut data) }, "napi_get_value_external")?;
    Ok(unsafe { &*(data as *const Shared) }.clone())
}

/// A Buffer's bytes `[off, off+len)` as a raw range; the caller keeps the Buffer alive.
fn buffer_range(env: Env, v: napi_value, off: napi_value, len: napi_value, what: &str) -> JsResult<(*mut u8, usize)> {
    let mut is = false;
    check(unsafe { napi::napi_is_buffer(env.0, v, &mut is) }, "napi_is_buffer")?;
    if !is {
        return Err(JsError::invalid(format!("{what} must be a Buffer")));
    }
    let mut data = ptr::null_mut();
    let mut total = 0usize;
    check(unsafe { napi::napi_get_buffer_info(env.0, v, &mut data, &mut total) }, "napi_get_buffer_info")?;
    let off = env.get_f64(off).map_err(|_| JsError::invalid(format!("{what} offset must be a number")))?;
    let len = env.get_f64(len).map_err(|_| JsError::invalid(format!("{what} length must be a number")))?;
    if !(off >= 0.0 && len >= 0.0 && off.fract() == 0.0 && len.fract() == 0.0 && off + len <= total as f64) {
        return Err(JsError::invalid(format!("{what} range is outside the Buffer")));
    }
    if total == 0 {
        return Ok((ptr::NonNull::<u8>::dangling().as_ptr(), 0));
    }
    Ok((unsafe { (data as *mut u8).add(off as usize) }, len as usize))
}

fn zstd_available(env: Env, _a: &[napi_value]) -> JsResult<napi_value> {
    match zstd() {
        Ok(_) => env.null(),
        Err(reason) => env.string(&reason),
    }
}

fn zstd_create(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let z = zstd().map_err(|r| JsError::new("ERR_NS_ZSTD_UNAVAILABLE", format!("native zstd unavailable: {r}")))?;
    let sha256 = !env.is_nullish(a[0])? && env.get_bool(a[0])?;
    let inf = Inflater::new_zstd(z, sha256).ok_or_else(|| JsError::new("ERR_NS_INTERNAL", "ZSTD_createDStream failed"))?;
    wrap(env, inf)
}

fn available(env: Env, _a: &[napi_value]) -> JsResult<napi_value> {
    match isal() {
        Ok(_) => env.null(),
        Err(reason) => env.string(&reason),
    }
}

fn create(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let isal = isal().map_err(|r| JsError::new("ERR_NS_GZIP_UNAVAILABLE", format!("native gunzip unavailable: {r}")))?;
    let sha256 = !env.is_nullish(a[0])? && env.get_bool(a[0])?;
    wrap(env, Inflater::new(isal, sha256))
}

/// A handle object `{ handle, sha256 }` for a decoder.
fn wrap(env: Env, inf: Inflater) -> JsResult<napi_value> {
    let hashing = inf.sha_ctx.is_some();
    let shared: Box<Shared> = Box::new(Arc::new(Mutex::new(inf)));
    let mut ext = ptr::null_mut();
    check(
        unsafe { napi::napi_create_external(env.0, Box::into_raw(shared) as *mut c_void, Some(finalize_handle), ptr::null_mut(), &mut ext) },
        "napi_create_external",
    )?;
    let obj = env.object()?;
    env.set(obj, "handle", ext)?;
    env.set(obj, "sha256", env.boolean(hashing)?)?;
    Ok(obj)
}

struct Job {
    inf: Shared,
    input: *const u8,
    in_len: usize,
    output: *mut u8,
    out_len: usize,
    result: Option<JsResult<(usize, usize, bool)>>,
    deferred: napi::napi_deferred,
    work: napi::napi_async_work,
}

unsafe extern "C" fn execute(_env: napi_env, data: *mut c_void) {
    let job = &mut *(data as *mut Job);
    let input = std::slice::from_raw_parts(job.input, job.in_len);
    let output = std::slice::from_raw_parts_mut(job.output, job.out_len);
    let mut inf = match job.inf.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if inf.zstd.is_some() {
            let z = zstd().map_err(|r| JsError::new("ERR_NS_ZSTD_UNAVAILABLE", r))?;
            inf.run_zstd(z, input, output)
        } else {
            let isal = isal().map_err(|r| JsError::new("ERR_NS_GZIP_UNAVAILABLE", r))?;
            inf.run(isal, input, output)
        }
    }));
    job.result = Some(match r {
        Ok(Ok((c, p))) => Ok((c, p, match inf.zstd.as_ref() {
            Some(st) => st.started && !st.in_frame,
            None => matches!(inf.phase, Phase::Boundary | Phase::Done),
        })),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(JsError::new("ERR_NS_INTERNAL", "native panic in gunzip")),
    });
}

unsafe extern "C" fn complete(env: napi_env, _status: napi_status, data: *mut c_void) {
    let mut job = Box::from_raw(data as *mut Job);
    napi::napi_delete_async_work(env, job.work);
    let e = Env(env);
    let outcome = match job.result.take().unwrap_or_else(|| Err(JsError::new("ERR_NS_INTERNAL", "gunzip work was cancelled"))) {
        Ok((c, p, at_end)) => (|| -> JsResult<napi_value> {
            let obj = e.object()?;
            e.set(obj, "consumed", e.int(c as i64)?)?;
            e.set(obj, "produced", e.int(p as i64)?)?;
            e.set(obj, "atEnd", e.boolean(at_end)?)?;
            Ok(obj)
        })(),
        Err(err) => Err(err),
    };
    match outcome {
        Ok(v) => {
            napi::napi_resolve_deferred(env, job.deferred, v);
        }
        Err(err) => {
            if let Ok(v) = e.error(&err) {
                napi::napi_reject_deferred(env, job.deferred, v);
            }
        }
    }
}

fn run(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let inf = handle_arg(env, a[0])?;
    let (input, in_len) = buffer_range(env, a[1], a[2], a[3], "input")?;
    let (output, out_len) = buffer_range(env, a[4], a[5], a[6], "output")?;
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    check(unsafe { napi::napi_create_promise(env.0, &mut deferred, &mut promise) }, "napi_create_promise")?;
    let job = Box::into_raw(Box::new(Job { inf, input, in_len, output, out_len, result: None, deferred, work: ptr::null_mut() }));
    unsafe { napi::queue_work(env, "berth:gunzip", job, |j, w| j.work = w, Some(execute), Some(complete))? };
    Ok(promise)
}

fn finish(env: Env, a: &[napi_value]) -> JsResult<napi_value> {
    let inf = handle_arg(env, a[0])?;
    let mut g = inf.lock().map_err(|_| JsError::new("ERR_NS_INTERNAL", "gunzip state poisoned"))?;
    match g.finish()? {
        Some(md) => env.string(&md.iter().map(|b| format!("{b:02x}")).collect::<String>()),
        None => env.null(),
    }
}

/// Adds the gunzip exports.
pub fn register(env: Env, exports: napi_value) -> JsResult<()> {
    napi::export(env, exports, "gunzipAvailable", available)?;
    napi::export(env, exports, "gunzipCreate", create)?;
    napi::export(env, exports, "gunzipRun", run)?;
    napi::export(env, exports, "gunzipFinish", finish)?;
    napi::export(env, exports, "zstdAvailable", zstd_available)?;
    napi::export(env, exports, "zstdCreate", zstd_create)?;
    Ok(())
}
