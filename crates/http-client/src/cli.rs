//! The binary's options, with curl's spelling and meaning, and what it
//! does with them: build a [`Request`], send it (again, with `--retry`),
//! put the body where `-o`/`-O`/`-C` say, show the heads (`-i`, `-v`,
//! `-D`), write `-w`'s text, and pick curl's exit status.
//!
//! Only with the `cli` feature (the default): it is clap's.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use net_core::cli::parse_seconds;

use crate::request::{Body, TimeCondition};
use crate::save::{self, Output};
use crate::show::Show;
use crate::write_out::{self, Info};
use crate::{Client, Error, Proxies, Request, Transfer, Trust, Url};

/// Usage errors exit 2, as clap's do.
const EXIT_USAGE: u8 = 2;
/// An HTTP status of 400 or more (curl's `--fail` status).
const EXIT_HTTP_ERROR: u8 = 22;
/// `-O` with a URL that names no file: curl's "write error".
const EXIT_NO_FILE_NAME: u8 = 23;

/// The statuses `--retry` takes for transient, as curl does: request
/// timeout, too many requests, and the server errors that say "later".
const RETRY_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];

/// The first wait of `--retry` without `--retry-delay`, doubled after
/// each attempt: curl's.
const RETRY_FIRST_WAIT: Duration = Duration::from_secs(1);

/// The longest wait between attempts, also for a server's `Retry-After`:
/// curl's cap on its doubling (10 minutes), so a server cannot park the
/// client for a day.
const RETRY_MAX_WAIT: Duration = Duration::from_secs(600);

/// The options.
#[derive(Parser, Debug)]
#[command(
    name = "http-client",
    version,
    about = "Fetch files over HTTP/1.1 or HTTPS: the body to stdout, the headers to stderr.",
    after_help = "Examples:\n  http-client localhost 6789 HelloWorld.html\n  http-client http://[::1]:6789/a.html http://[::1]:6789/b.html\n  http-client -d 'name=lab' -H 'X-Lab: 3' http://127.0.0.1:6789/form\n  http-client -T notes.txt -u me:secret http://127.0.0.1:6789/upload/"
)]
pub struct Options {
    /// `SERVER_HOST SERVER_PORT PATH [PATH…]`, or one or more http:// or https:// URLs.
    #[arg(required = true, value_name = "HOST PORT PATH… | URL…")]
    args: Vec<String>,
    /// Silent: do not print the status line and headers.
    #[arg(short, long)]
    silent: bool,
    /// Include the status line and headers in stdout, before the body.
    #[arg(short, long)]
    include: bool,
    /// Also show the request sent (lines marked > and <, on stderr).
    #[arg(short, long)]
    verbose: bool,
    /// Write the body to FILE instead of stdout (only with one path; `-` is
    /// stdout). A response of 400 or more is not saved (unless
    /// --fail-with-body).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write each body to a file named after the last segment of its URL.
    #[arg(short = 'O', long, conflicts_with = "output")]
    remote_name: bool,
    /// Send HEAD instead of GET.
    #[arg(short = 'I', long)]
    head: bool,
    /// Follow redirects.
    #[arg(short = 'L', long)]
    location: bool,
    /// Most redirects followed with -L (-1: no limit).
    #[arg(
        long,
        value_name = "N",
        default_value = "50",
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(i64).range(-1..)
    )]
    max_redirs: i64,
    /// Send this method instead of GET, POST or PUT (on every redirect too).
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    method: Option<String>,
    /// Send a header: `Name: value`; `Name:` leaves a default out, `Name;`
    /// sends it empty, `@FILE` reads one per line. Repeatable.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// POST this (form) data; `@FILE` or `@-` reads it, without CR and LF.
    /// Several are joined with `&`.
    #[arg(
        short = 'd',
        long = "data",
        visible_alias = "data-ascii",
        value_name = "DATA"
    )]
    data: Vec<String>,
    /// As -d, but `@FILE` is sent byte for byte.
    #[arg(long = "data-binary", value_name = "DATA")]
    data_binary: Vec<String>,
    /// As -d, with no `@FILE` meaning.
    #[arg(long = "data-raw", value_name = "DATA")]
    data_raw: Vec<String>,
    /// As -d, percent-encoded: `[NAME]=CONTENT` or `[NAME]@FILE`.
    #[arg(long = "data-urlencode", value_name = "DATA")]
    data_urlencode: Vec<String>,
    /// Send the -d data in the URL's query with GET (or HEAD with -I).
    #[arg(short = 'G', long = "get")]
    get: bool,
    /// PUT this file (`-` for standard input, sent chunked), streamed.
    #[arg(short = 'T', long = "upload-file", value_name = "FILE")]
    upload: Option<PathBuf>,
    /// Send this User-Agent (empty: none).
    #[arg(short = 'A', long = "user-agent", value_name = "NAME")]
    user_agent: Option<String>,
    /// Send this Referer.
    #[arg(short = 'e', long = "referer", value_name = "URL")]
    referer: Option<String>,
    /// Send these cookies: `name=value[; name2=value2]`.
    #[arg(short = 'b', long = "cookie", value_name = "DATA")]
    cookie: Option<String>,
    /// Basic credentials, `USER:PASSWORD`.
    #[arg(short = 'u', long = "user", value_name = "USER:PASSWORD")]
    user: Option<String>,
    /// A status of 400 or more: exit 22 without writing the body.
    #[arg(short = 'f', long)]
    fail: bool,
    /// A status of 400 or more: exit 22, the body written (also to -o).
    #[arg(long, conflicts_with = "fail")]
    fail_with_body: bool,
    /// Write the received heads to FILE (`-` for stdout).
    #[arg(short = 'D', long = "dump-header", value_name = "FILE")]
    dump_header: Option<PathBuf>,
    /// After each transfer write FORMAT to stdout, `%{variable}`s filled
    /// in (`@FILE` reads it).
    #[arg(short = 'w', long = "write-out", value_name = "FORMAT")]
    write_out: Option<String>,
    /// Ask for part of the body only: `START-END`, `START-`, `-LAST`.
    #[arg(short = 'r', long, value_name = "RANGE", allow_hyphen_values = true)]
    range: Option<String>,
    /// Resume the -o file: `-` from its length, or from byte OFFSET.
    #[arg(
        short = 'C',
        long = "continue-at",
        value_name = "OFFSET",
        allow_hyphen_values = true
    )]
    continue_at: Option<String>,
    /// Only if changed since DATE, or since FILE's time (`-DATE`: only if not).
    #[arg(
        short = 'z',
        long = "time-cond",
        value_name = "DATE|FILE",
        allow_hyphen_values = true
    )]
    time_cond: Option<String>,
    /// Try again this many times after a transient error (a time-out, or
    /// status 408, 429, 500, 502, 503, 504), waiting 1 s, then 2 s, 4 s …
    #[arg(long, value_name = "N", default_value = "0")]
    retry: u32,
    /// Wait this many seconds between attempts instead.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    retry_delay: Option<Duration>,
    /// Stop retrying once this many seconds have passed.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    retry_max_time: Option<Duration>,
    /// Also retry when the connection is refused.
    #[arg(long)]
    retry_connrefused: bool,
    /// Retry after any error (with -f, a status of 400 or more too).
    #[arg(long)]
    retry_all_errors: bool,
    /// Seconds an upload announced with `Expect: 100-continue` waits for
    /// the server's go-ahead before it is sent anyway.
    #[arg(long = "expect100-timeout", value_name = "SECS", value_parser = parse_seconds, default_value = "1")]
    expect100_timeout: Duration,
    /// Seconds allowed to connect.
    #[arg(long, value_parser = parse_seconds, default_value = "10")]
    connect_timeout: Duration,
    /// Seconds allowed for each whole request (no limit by default).
    #[arg(short = 'm', long, visible_alias = "max-time", value_parser = parse_seconds)]
    timeout: Option<Duration>,
    /// Seconds the server may send nothing before the request is given up.
    #[arg(long, value_parser = parse_seconds, default_value = "30")]
    stall_timeout: Duration,
    /// Ask for a compressed body (gzip, deflate, br, zstd) and decode it.
    #[arg(long)]
    compressed: bool,
    /// Trust only the CA certificates in this PEM file for https://.
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Do not check the server's certificate for https:// (still encrypted).
    #[arg(short = 'k', long)]
    insecure: bool,
    /// Send requests through this HTTP proxy: [http://][user:password@]host[:port]
    /// (port 1080 by default); "" for none, whatever http_proxy says.
    #[arg(short = 'x', long, value_name = "URL")]
    proxy: Option<String>,
    /// Hosts reached without the proxy, comma-separated (in place of no_proxy).
    #[arg(long, value_name = "LIST")]
    noproxy: Option<String>,
}

/// What the binary does: parses the command line and runs it.
pub fn main() -> ExitCode {
    let matches = Options::command().get_matches();
    let options = match Options::from_arg_matches(&matches) {
        Ok(o) => o,
        Err(e) => e.exit(),
    };
    let data = match data_in_order(&matches) {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    run(&options, data)
}

fn fail(e: &Error) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(e.exit_code())
}

/// How a piece of `-d` data is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataKind {
    /// `-d`: `@FILE` read without CR and LF.
    Ascii,
    /// `--data-binary`: `@FILE` byte for byte.
    Binary,
    /// `--data-raw`: no `@`.
    Raw,
    /// `--data-urlencode`: `[NAME]=CONTENT` or `[NAME]@FILE`, the content
    /// percent-encoded.
    UrlEncode,
}

/// The `-d`, `--data-binary` and `--data-raw` arguments in command-line
/// order, read and joined with `&`: `None` when there are none.
fn data_in_order(matches: &ArgMatches) -> Result<Option<Vec<u8>>, Error> {
    let mut pieces: Vec<(usize, DataKind, String)> = Vec::new();
    for (id, kind) in [
        ("data", DataKind::Ascii),
        ("data_binary", DataKind::Binary),
        ("data_raw", DataKind::Raw),
        ("data_urlencode", DataKind::UrlEncode),
    ] {
        if let (Some(values), Some(indices)) =
            (matches.get_many::<String>(id), matches.indices_of(id))
        {
            pieces.extend(indices.zip(values).map(|(i, v)| (i, kind, v.clone())));
        }
    }
    if pieces.is_empty() {
        return Ok(None);
    }
    pieces.sort_by_key(|p| p.0);
    let mut body = Vec::new();
    for (n, (_, kind, value)) in pieces.into_iter().enumerate() {
        if n > 0 {
            body.push(b'&');
        }
        if kind == DataKind::UrlEncode {
            body.extend_from_slice(&url_encoded(&value)?);
            continue;
        }
        match (kind, value.strip_prefix('@')) {
            (DataKind::Ascii | DataKind::Binary, Some(path)) => {
                let mut bytes = read_data(path)?;
                if kind == DataKind::Ascii {
                    bytes.retain(|&b| b != b'\r' && b != b'\n');
                }
                if body.is_empty() {
                    // A large file is held once, not copied.
                    body = bytes;
                } else {
                    body.extend_from_slice(&bytes);
                }
            }
            _ => body.extend_from_slice(value.as_bytes()),
        }
    }
    Ok(Some(body))
}

/// The contents of `-d @FILE` (`@-`: standard input).
fn read_data(path: &str) -> Result<Vec<u8>, Error> {
    let read = if path == "-" {
        let mut all = Vec::new();
        io::Read::read_to_end(&mut io::stdin(), &mut all).map(|_| all)
    } else {
        fs::read(path)
    };
    read.map_err(|e| {
        Error::ReadBody(format!(
            "cannot read the data to send from {path} ({})",
            net_core::error::describe(&e)
        ))
    })
}

/// `--data-urlencode` as curl reads it: up to the first `=` (or, without
/// one, the first `@`) is a name sent as it is; after `=` the content,
/// after `@` a file holding it; the content is percent-encoded (all but
/// letters, digits and `-._~`; a space as `+`).
fn url_encoded(value: &str) -> Result<Vec<u8>, Error> {
    /// What `curl_easy_escape` leaves as it is: RFC 3986's unreserved.
    const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let split = value.find('=').or_else(|| value.find('@'));
    let (name, content) = match split {
        Some(i) if value.as_bytes()[i] == b'@' => (&value[..i], read_data(&value[i + 1..])?),
        Some(i) => (&value[..i], value.as_bytes()[i + 1..].to_vec()),
        None => ("", value.as_bytes().to_vec()),
    };
    let mut out = Vec::new();
    if !name.is_empty() {
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
    }
    // curl sends a space as `+`, as a form does.
    let encoded = percent_encoding::percent_encode(&content, ESCAPED).to_string();
    out.extend_from_slice(encoded.replace("%20", "+").as_bytes());
    Ok(out)
}

/// The request for `url` as the options describe it.
fn build(options: &Options, url: &Url, data: Option<&Arc<Vec<u8>>>) -> Result<Request, Error> {
    let url = match &options.upload {
        // `-T FILE` to a URL ending in `/` puts the file under its name.
        Some(path) if path != Path::new("-") => match path.file_name() {
            Some(name) => url.with_file_name(&name.to_string_lossy()),
            None => url.clone(),
        },
        _ => url.clone(),
    };
    let (url, data) = match data {
        Some(data) if options.get => (url.with_query_data(&String::from_utf8_lossy(data)), None),
        data => (url, data),
    };
    let mut request = Request::new(url);
    if options.head {
        request = request.head();
    }
    if let Some(data) = data {
        if options.head {
            return Err(Error::Usage(
                "-d cannot be combined with -I (one method: POST or HEAD)".into(),
            ));
        }
        request = request.shared_body(Arc::clone(data));
    }
    if let Some(path) = &options.upload {
        if options.head || data.is_some() {
            return Err(Error::Usage(
                "-T cannot be combined with -d or -I (one body, one method)".into(),
            ));
        }
        request = request.upload(if path == Path::new("-") {
            Body::Stdin
        } else {
            Body::File(path.clone())
        });
    }
    if let Some(method) = &options.method {
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::Usage(format!("-X {method:?} is not a method")));
        }
        request = request.method(method);
    }
    if let Some(agent) = &options.user_agent {
        request = request.user_agent(agent);
    }
    if let Some(referer) = &options.referer {
        request = request.referer(referer);
    }
    if let Some(cookie) = &options.cookie {
        if !cookie.contains('=') {
            return Err(Error::Usage(format!(
                "-b {cookie:?}: cookie files are not read; give the cookies as -b 'name=value'"
            )));
        }
        request = request.cookie(cookie);
    }
    if let Some(user) = &options.user {
        let Some((name, password)) = user.split_once(':') else {
            return Err(Error::Usage(format!(
                "-u {user:?}: give the password too, as -u {user}:PASSWORD"
            )));
        };
        request = request.basic_auth(name, password);
    }
    if let Some(range) = &options.range {
        request = request.range(range);
    }
    if let Some(cond) = &options.time_cond {
        match time_condition(cond) {
            Some(c) => request = request.time_condition(c),
            None => eprintln!(
                "warning: -z {cond:?} is neither a date nor a file; sending no time condition"
            ),
        }
    }
    for header in &options.headers {
        request = request.header_arg(header)?;
    }
    Ok(request)
}

/// `-z DATE`, `-z FILE` (its modification time), `-z -DATE`.
fn time_condition(arg: &str) -> Option<TimeCondition> {
    let (unmodified, text) = match arg.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, arg),
    };
    let time = match fs::metadata(text).and_then(|m| m.modified()) {
        Ok(t) => t,
        Err(_) => httpdate::parse_http_date(text.trim()).ok()?,
    };
    Some(if unmodified {
        TimeCondition::UnmodifiedSince(time)
    } else {
        TimeCondition::ModifiedSince(time)
    })
}

/// Runs the options with the `-d` body already read.
pub fn run(options: &Options, data: Option<Vec<u8>>) -> ExitCode {
    let data = data.map(Arc::new);
    // Early, while this is the only thread: the signals are blocked in
    // every thread started after it.
    if let Err(e) = save::remove_on_signals() {
        log::warn!("an interrupted download may leave its temporary file ({e})");
    }
    let urls = match Url::from_args(&options.args) {
        Ok(urls) => urls,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(match e {
                Error::Unsupported(_) => e.exit_code(),
                _ => EXIT_USAGE,
            });
        }
    };
    let output = Output::from_arg(options.output.as_deref());
    if matches!(output, Output::File(_)) && urls.len() > 1 {
        eprintln!("error: -o takes one path; fetch several paths to stdout, or use -O");
        return ExitCode::from(EXIT_USAGE);
    }
    let mut client = client_for(options);
    let format = match &options.write_out {
        Some(f) => match read_format(f) {
            Ok(f) => Some(f),
            Err(e) => return fail(&e),
        },
        None => None,
    };
    let mut dump: Option<Box<dyn Write>> = match &options.dump_header {
        Some(p) if p == Path::new("-") => Some(Box::new(io::stdout())),
        Some(p) => match File::create(p) {
            Ok(f) => Some(Box::new(f)),
            Err(e) => {
                return fail(&Error::Write {
                    path: Some(p.clone()),
                    source: e,
                });
            }
        },
        None => None,
    };
    let mut code = 0;
    for url in &urls {
        let request = match build(options, url, data.as_ref()) {
            Ok(r) => r,
            Err(e) => return fail(&e),
        };
        let output = if options.remote_name {
            let name = url.file_name();
            if name.is_empty() {
                eprintln!("error: -O: {url} names no file to save into (its path ends in /)");
                return ExitCode::from(EXIT_NO_FILE_NAME);
            }
            Output::File(PathBuf::from(name))
        } else {
            output.clone()
        };
        let resume = match resume_offset(options, &output) {
            Ok(r) => r,
            Err(e) => return fail(&e),
        };
        let request = match resume {
            Some(offset) => request.range(format!("{offset}-")),
            None => request,
        };
        let (result, heads) =
            fetch_with_retries(options, &mut client, &request, &output, resume, &mut dump);
        match &result {
            // A resumed file that is already whole: curl's success.
            Ok(t) if resume.is_some() && t.head.status == 416 => {}
            Ok(t) if t.head.status >= 400 => {
                if options.fail || options.fail_with_body {
                    eprintln!(
                        "error: the server answered {} {} for {}",
                        t.head.status, t.head.reason, t.url
                    );
                }
                code = EXIT_HTTP_ERROR;
            }
            _ => {}
        }
        if let Some(format) = &format {
            let info = Outcome {
                request: &request,
                output: &output,
                result: &result,
                heads,
                code,
            };
            write_out(format, &info);
        }
        if let Err(e) = result {
            return fail(&e);
        }
    }
    ExitCode::from(code)
}

/// The client the options describe: limits, redirects, TLS, proxies.
fn client_for(options: &Options) -> Client {
    let mut client = Client::new()
        .connect_timeout(options.connect_timeout)
        .stall_timeout(options.stall_timeout)
        .follow_redirects(options.location)
        .max_redirects(u32::try_from(options.max_redirs).ok())
        .continue_wait(options.expect100_timeout);
    if let Some(limit) = options.timeout {
        client = client.timeout(limit);
    }
    let mut proxies = Proxies::from_env();
    if let Some(proxy) = &options.proxy {
        proxies = proxies.proxy(proxy);
    }
    if let Some(list) = &options.noproxy {
        proxies = proxies.noproxy(list);
    }
    // As curl: -k wins over --cacert.
    let trust = match (&options.cacert, options.insecure) {
        (_, true) => Trust::Insecure,
        (Some(file), false) => Trust::File(file.clone()),
        (None, false) => Trust::System,
    };
    client
        .compressed(options.compressed)
        .trust(trust)
        .proxies(proxies)
}

/// One URL's transfer, for `-w`.
struct Outcome<'a> {
    request: &'a Request,
    output: &'a Output,
    result: &'a Result<Transfer, Error>,
    heads: u64,
    code: u8,
}

/// Writes `-w FORMAT` for one transfer to stdout.
fn write_out(format: &str, outcome: &Outcome<'_>) {
    let Outcome {
        request,
        output,
        result,
        heads,
        code,
    } = outcome;
    let file = match output {
        Output::File(p) => Some(p.to_string_lossy().into_owned()),
        Output::Stdout => None,
    };
    let done = result.as_ref().ok();
    let effective = done.map_or(request.url().to_string(), |t| t.url.to_string());
    // Where a redirect that was not followed points.
    let redirect = done
        .filter(|t| (300..400).contains(&t.head.status))
        .and_then(|t| t.url.join(t.head.header_bytes("location")?).ok())
        .map(|u| u.to_string());
    let message = result.as_ref().err().map(ToString::to_string);
    let info = Info {
        head: done.map(|t| &t.head),
        url: &effective,
        method: done.map_or(request.method_for(request.kind()), |t| &t.method),
        redirects: done.map_or(0, |t| t.redirects),
        downloaded: done.map_or(0, |t| t.downloaded),
        header_bytes: *heads,
        elapsed: done.map_or(Duration::ZERO, |t| t.elapsed),
        exit_code: result.as_ref().err().map_or(*code, Error::exit_code),
        error: message.as_deref(),
        file: file.as_deref(),
        redirect_url: redirect.as_deref(),
    };
    let (text, unknown) = write_out::render(format, &info);
    for name in unknown {
        eprintln!("warning: unknown -w variable %{{{name}}}");
    }
    let mut out = io::stdout().lock();
    let _ = out.write_all(&text).and_then(|()| out.flush());
}

/// Where `-C` resumes: `-` at the output file's length, or at OFFSET.
/// `None` for a whole download (also at offset 0: curl then sends no
/// Range).
fn resume_offset(options: &Options, output: &Output) -> Result<Option<u64>, Error> {
    let offset = match options.continue_at.as_deref() {
        None => return Ok(None),
        Some("-") => match output {
            Output::File(path) => fs::metadata(path).map_or(0, |m| m.len()),
            Output::Stdout => 0,
        },
        Some(n) => n.parse::<u64>().map_err(|_| {
            Error::Usage(format!(
                "-C {n:?}: give an offset in bytes, or - to resume the -o file"
            ))
        })?,
    };
    if offset > 0 && options.range.is_some() {
        return Err(Error::Usage("-C and -r cannot be combined".into()));
    }
    Ok((offset > 0).then_some(offset))
}

/// `-w FORMAT`, or the format in a file with `@FILE` (`@-`: stdin).
fn read_format(arg: &str) -> Result<String, Error> {
    let Some(path) = arg.strip_prefix('@') else {
        return Ok(arg.to_string());
    };
    let read = if path == "-" {
        io::read_to_string(io::stdin())
    } else {
        fs::read_to_string(path)
    };
    read.map_err(|e| {
        Error::Usage(format!(
            "-w @{path}: cannot read the format ({})",
            net_core::error::describe(&e)
        ))
    })
}

/// Sends the request, again after a transient failure while `--retry`
/// allows. Returns the result and the bytes of heads received.
fn fetch_with_retries(
    options: &Options,
    client: &mut Client,
    request: &Request,
    output: &Output,
    resume: Option<u64>,
    dump: &mut Option<Box<dyn Write>>,
) -> (Result<Transfer, Error>, u64) {
    let started = Instant::now();
    let mut left = options.retry;
    let mut wait = options.retry_delay.unwrap_or(RETRY_FIRST_WAIT);
    loop {
        let mut show = Show::new()
            .silent(options.silent)
            .include(options.include)
            .verbose(options.verbose)
            .progress(matches!(output, Output::File(_)))
            .dump(dump.as_mut().map(|d| d as &mut dyn Write));
        let keep_errors = match output {
            Output::Stdout => !options.fail,
            Output::File(_) => options.fail_with_body,
        };
        let result = match resume {
            Some(offset) => save::resume(client, request, output, offset, &mut show),
            None => save::fetch(client, request, output, &mut show, keep_errors),
        };
        show.finish();
        let heads = show.head_bytes();
        let problem = match &result {
            // Timed out, or a name (the server's, the proxy's) not resolved.
            Err(e) if matches!(e.exit_code(), 5 | 6 | 28) => Some(("timeout", None)),
            Err(e) if options.retry_connrefused && e.exit_code() == 7 => {
                Some(("connection refused", None))
            }
            Ok(t) if RETRY_STATUSES.contains(&t.head.status) => {
                Some(("HTTP error", retry_after(t.head.header("retry-after"))))
            }
            Err(_) if options.retry_all_errors => Some(("(retrying all errors)", None)),
            Ok(t)
                if options.retry_all_errors
                    && t.head.status >= 400
                    && (options.fail || options.fail_with_body) =>
            {
                Some(("(retrying all errors)", None))
            }
            _ => None,
        };
        let Some((what, asked)) = problem else {
            return (result, heads);
        };
        if left == 0 {
            return (result, heads);
        }
        if matches!(request.body_ref(), Some(Body::Stdin)) {
            // Sending it again would send what is left of the input.
            eprintln!("warning: not retrying: the upload read standard input, which is gone");
            return (result, heads);
        }
        let pause = asked.unwrap_or(wait).min(RETRY_MAX_WAIT);
        // As curl: no new attempt once the time is up; one that starts
        // before may end after it.
        if options
            .retry_max_time
            .is_some_and(|max| started.elapsed() >= max)
        {
            return (result, heads);
        }
        left -= 1;
        eprintln!(
            "warning: problem: {what}. Will retry in {} seconds. {left} retries left.",
            pause.as_secs()
        );
        thread::sleep(pause);
        if options.retry_delay.is_none() {
            wait = (wait * 2).min(RETRY_MAX_WAIT);
        }
    }
}

/// A `Retry-After` value: seconds, or an HTTP date.
fn retry_after(value: Option<&str>) -> Option<Duration> {
    let value = value?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return (secs > 0).then(|| Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    when.duration_since(SystemTime::now()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(args: &[&str]) -> Option<Vec<u8>> {
        let mut argv = vec!["http-client"];
        argv.extend_from_slice(args);
        argv.push("http://h/");
        let matches = Options::command().try_get_matches_from(argv).unwrap();
        data_in_order(&matches).unwrap()
    }

    #[test]
    fn data_pieces_keep_their_order() {
        assert_eq!(data(&[]), None);
        assert_eq!(
            data(&[
                "-d",
                "a=1",
                "--data-binary",
                "b",
                "--data-raw",
                "@c",
                "-d",
                "d"
            ])
            .unwrap(),
            b"a=1&b&@c&d"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "x\r\ny\n").unwrap();
        let at = format!("@{}", file.display());
        assert_eq!(data(&["-d", &at]).unwrap(), b"xy");
        assert_eq!(data(&["--data-binary", &at]).unwrap(), b"x\r\ny\n");
    }

    /// A long download that keeps moving completes: no limit on a whole
    /// request unless `-m` sets one (the stall limit is another's).
    #[test]
    fn a_whole_request_has_no_time_limit_unless_asked() {
        let client = |args: &[&str]| {
            let argv = ["http-client"].iter().chain(args).chain(&["http://h/"]);
            client_for(&Options::try_parse_from(argv).unwrap())
        };
        assert_eq!(client(&[]).timeout_limit(), None);
        assert_eq!(
            client(&["-m", "5"]).timeout_limit(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            client(&["--max-time", "0.5"]).timeout_limit(),
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(retry_after(Some("3")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(Some("0")), None);
        assert_eq!(retry_after(Some("soon")), None);
        let later = SystemTime::now() + Duration::from_secs(30);
        let secs = retry_after(Some(&httpdate::fmt_http_date(later))).unwrap();
        assert!(secs <= Duration::from_secs(30) && secs >= Duration::from_secs(28));
        assert!(time_condition("Sun, 06 Nov 1994 08:49:37 GMT").is_some());
        assert!(matches!(
            time_condition("-Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(TimeCondition::UnmodifiedSince(_))
        ));
        assert!(time_condition("not a date").is_none());
    }
}
