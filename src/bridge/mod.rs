//! The HTTP bridge: services mounted on a web transport's paths that
//! publish and call for HTTP clients, in Crossbar.io's shapes
//! (crossbar/bridge/rest/): `publisher` (POST `{"topic", "args", "kwargs",
//! "options"}` → `{"id"}`), `caller` (POST `{"procedure", "args", "kwargs"}`
//! → `{"args", "kwargs"}`), `webhook` (any POST → an event `{"headers",
//! "body"}` on the configured topic). docs/web.md has the shapes and codes.
//!
//! | file | owns |
//! | --- | --- |
//! | `mod.rs` | [`Bridge`]: one service on one shard, its session, the three services' shapes |
//! | `checks.rs` | what a request must pass first: content type, signatures (signed requests, GitHub's), client address, TLS |
//! | `figures.rs` | [`BridgeFigures`]: requests served, WAMP errors, refusals by [`Reason`], one set per service and shard |
//!
//! Each bridge service acts as an in-process session of its realm under its
//! role, joined the way a component's is ([`crate::component::open_session`])
//! through the path's internal transport, which the shard gives the
//! configured role: authorization, meta events and statistics apply as to any
//! client. A shard opens its session on the first request it serves, and
//! again after the session ended.

mod checks;
mod figures;

pub use checks::{format_timestamp, parse_timestamp, sign};
pub use figures::{BridgeFigures, Reason};

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::time::Duration;

use crate::client::auth::Anonymous;
use crate::client::CallError;
use crate::component::ComponentHost;
use crate::transport::dial::Session;
use crate::transport::web::{HttpRequest, HttpResponse, HttpService, ServiceSpec};
use crate::wamp::message::Payload;
use crate::wamp::value::{Dict, Value};

use checks::{Checks, Refusal};

/// The authid a bridge path's session gets: `bridge:<transport><path>`.
pub fn authid(spec: &ServiceSpec) -> String {
    format!("bridge:{}{}", spec.transport, spec.path)
}

/// One bridge service (`publisher`, `caller` or `webhook`) on one shard.
pub struct Bridge<H: ComponentHost + 'static> {
    host: Weak<H>,
    spec: ServiceSpec,
    checks: Checks,
    session: RefCell<Option<Rc<Session>>>,
    joining: Cell<bool>,
    figures: RefCell<BridgeFigures>,
}

impl<H: ComponentHost + 'static> Bridge<H> {
    /// The service `spec` names, joining through `host`.
    pub fn new(host: &Rc<H>, spec: &ServiceSpec) -> Bridge<H> {
        Bridge {
            host: Rc::downgrade(host),
            spec: spec.clone(),
            checks: Checks::new(&spec.config.options),
            session: RefCell::new(None),
            joining: Cell::new(false),
            figures: RefCell::new(BridgeFigures::default()),
        }
    }

    /// This shard's figures for the service.
    pub fn figures(&self) -> BridgeFigures {
        self.figures.borrow().clone()
    }

    /// Counts a refused request and answers it: its status and
    /// `{"error": message, "args": [], "kwargs": {}}`.
    fn deny(&self, (status, why, reason): Refusal) -> HttpResponse {
        self.figures.borrow_mut().refuse(reason);
        json_response(
            status,
            &serde_json::json!({ "error": why, "args": [], "kwargs": {} }),
        )
    }

    /// A body that is not the request event the service takes (400).
    fn bad_request(&self, why: String) -> HttpResponse {
        self.deny((400, why, Reason::BadJson))
    }

    /// Counts the outcome of a publication or call and answers it.
    fn answer<T>(
        &self,
        r: Result<T, CallError>,
        ok: impl FnOnce(T) -> HttpResponse,
    ) -> HttpResponse {
        match r {
            Ok(v) => {
                self.figures.borrow_mut().served += 1;
                ok(v)
            }
            Err(e) => {
                let mut f = self.figures.borrow_mut();
                if e.uri == crate::wamp::uris::ERROR_NOT_AUTHORIZED {
                    f.refuse(Reason::NotAuthorized);
                } else {
                    f.wamp_errors += 1;
                }
                wamp_error(&e)
            }
        }
    }

    /// The service's session: the open one, or a new one.
    async fn session(&self) -> Result<Rc<Session>, String> {
        loop {
            if let Some(s) = self.session.borrow().as_ref().filter(|s| !s.is_closed()) {
                return Ok(s.clone());
            }
            if !self.joining.get() {
                break;
            }
            // Another request is joining: wait for it.
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        let host = self.host.upgrade().ok_or("the shard is stopping")?;
        self.joining.set(true);
        let details = crate::dict! {
            "type" => "http-bridge",
            "bridge" => self.spec.kind,
            "path" => self.spec.path.as_str(),
        };
        let joined = crate::component::open_session(
            &host,
            &self.spec.config.realm,
            self.spec.id,
            details,
            Box::new(Anonymous::default()),
            crate::codec::Serializer::MsgPack,
        )
        .await;
        self.joining.set(false);
        let s = Rc::new(joined.map_err(|e| e.to_string())?);
        *self.session.borrow_mut() = Some(s.clone());
        Ok(s)
    }

    async fn handle(&self, req: &HttpRequest) -> HttpResponse {
        let mut r = self.respond(req).await;
        common_headers(req, &mut r);
        r
    }

    async fn respond(&self, req: &HttpRequest) -> HttpResponse {
        match req.method.as_str() {
            "POST" | "PUT" => {}
            "OPTIONS" => {
                let mut r = HttpResponse::new(200, JSON, Vec::new());
                r.headers.push(("allow".into(), "POST,PUT,OPTIONS".into()));
                r.headers.push((
                    "access-control-allow-methods".into(),
                    "POST,PUT,OPTIONS".into(),
                ));
                return r;
            }
            m => {
                return self.deny((
                    405,
                    format!("HTTP/{m} not allowed here (allowed: POST, PUT)"),
                    Reason::Method,
                ))
            }
        }
        let webhook = self.spec.kind == "webhook";
        if let Err(refusal) = self.checks.check(req, !webhook, now()) {
            // A failed signature is worth an operator's eye; the rest is
            // the client's mistake. Neither line carries a secret.
            let level = if refusal.0 == 401 {
                log::Level::Info
            } else {
                log::Level::Debug
            };
            log::log!(
                level,
                "bridge {}{}: request from {} refused: {} {}",
                self.spec.transport,
                self.spec.path,
                req.peer
                    .map_or_else(|| "unix".to_owned(), |p| p.to_string()),
                refusal.0,
                refusal.1
            );
            return self.deny(refusal);
        }
        // Checked as UTF-8 above.
        let text = String::from_utf8_lossy(&req.body);
        if webhook {
            return self.webhook(req, &text).await;
        }
        let event: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                return self.bad_request(format!(
                    "invalid request event - HTTP/POST body must be valid JSON: {e}"
                ))
            }
        };
        let serde_json::Value::Object(event) = event else {
            return self
                .bad_request("invalid request event - HTTP/POST body must be a JSON dict".into());
        };
        let args = match event.get("args") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(a)) => a.iter().map(from_json).collect(),
            Some(_) => {
                return self.bad_request("invalid request event - 'args' must be a list".into())
            }
        };
        let kwargs = match event.get("kwargs") {
            None | Some(serde_json::Value::Null) => Dict::new(),
            Some(serde_json::Value::Object(o)) => dict_of(o),
            Some(_) => {
                return self.bad_request("invalid request event - 'kwargs' must be a dict".into())
            }
        };
        if self.spec.kind == "publisher" {
            let Some(topic) = event.get("topic").and_then(|t| t.as_str()) else {
                return self.bad_request(
                    "invalid request event - missing 'topic' in HTTP/POST body".into(),
                );
            };
            let mut options = Dict::new();
            if let Some(serde_json::Value::Object(o)) = event.get("options") {
                for k in ["exclude", "eligible"] {
                    if let Some(v) = o.get(k).filter(|v| !v.is_null()) {
                        options.insert(k.into(), from_json(v));
                    }
                }
            }
            self.publish(topic, options, args, kwargs).await
        } else {
            let Some(procedure) = event.get("procedure").and_then(|t| t.as_str()) else {
                return self.bad_request(
                    "invalid request event - missing 'procedure' in HTTP/POST body".into(),
                );
            };
            self.call(procedure, args, kwargs).await
        }
    }

    async fn publish(
        &self,
        topic: &str,
        options: Dict,
        args: Vec<Value>,
        kwargs: Dict,
    ) -> HttpResponse {
        let session = match self.session().await {
            Ok(s) => s,
            Err(e) => return self.internal(&e),
        };
        let payload = Payload::Values {
            args,
            kwargs: (!kwargs.is_empty()).then_some(kwargs),
        };
        let r = session.publish_with(topic, options, payload, true).await;
        self.answer(r, |id| {
            json_response(200, &serde_json::json!({ "id": id.unwrap_or(0) }))
        })
    }

    async fn call(&self, procedure: &str, args: Vec<Value>, kwargs: Dict) -> HttpResponse {
        let session = match self.session().await {
            Ok(s) => s,
            Err(e) => return self.internal(&e),
        };
        let r = session.call(procedure, args, kwargs).await;
        self.answer(r, |(args, kwargs)| {
            {
                // autobahn hands the bridge a bare value for one positional
                // result (or none), a CallResult otherwise.
                let body = if kwargs.is_empty() && args.len() <= 1 {
                    serde_json::json!({ "args": [args.first().map_or(serde_json::Value::Null, to_json)] })
                } else {
                    let mut o = serde_json::Map::new();
                    if !args.is_empty() {
                        o.insert(
                            "args".into(),
                            serde_json::Value::Array(args.iter().map(to_json).collect()),
                        );
                    }
                    if !kwargs.is_empty() {
                        o.insert("kwargs".into(), dict_json(&kwargs));
                    }
                    serde_json::Value::Object(o)
                };
                json_response(200, &body)
            }
        })
    }

    async fn webhook(&self, req: &HttpRequest, body: &str) -> HttpResponse {
        let o = &self.spec.config.options;
        let topic = o.topic.as_deref().unwrap_or_default();
        let mut headers = serde_json::Map::new();
        for (name, value) in &req.headers {
            let v = serde_json::Value::String(String::from_utf8_lossy(value).into_owned());
            if let serde_json::Value::Array(a) = headers
                .entry(canonical_header(name))
                .or_insert_with(|| serde_json::Value::Array(Vec::new()))
            {
                a.push(v);
            }
        }
        let message = crate::dict! {
            "headers" => from_json(&serde_json::Value::Object(headers)),
            "body" => body,
        };
        let ok = match self.session().await {
            Ok(s) => s
                .publish_with(
                    topic,
                    Dict::new(),
                    Payload::Values {
                        args: vec![Value::Dict(message)],
                        kwargs: None,
                    },
                    true,
                )
                .await
                .map_err(|e| e.uri),
            Err(e) => Err(e),
        };
        match ok {
            Ok(_) => {
                self.figures.borrow_mut().served += 1;
                HttpResponse::new(
                    202,
                    "text/plain; charset=utf-8",
                    o.success_response.as_deref().unwrap_or("OK").as_bytes(),
                )
            }
            Err(e) => {
                if e == crate::wamp::uris::ERROR_NOT_AUTHORIZED {
                    self.figures.borrow_mut().refuse(Reason::NotAuthorized);
                } else {
                    self.figures.borrow_mut().wamp_errors += 1;
                }
                log::warn!(
                    "bridge {}{}: unable to send the webhook to '{topic}': {e}",
                    self.spec.transport,
                    self.spec.path
                );
                HttpResponse::new(
                    500,
                    "text/plain; charset=utf-8",
                    o.error_response.as_deref().unwrap_or("NOT OK").as_bytes(),
                )
            }
        }
    }

    /// A failure of the bridge itself (its session could not join): 500 `wamp.error.runtime_error`.
    fn internal(&self, why: &str) -> HttpResponse {
        self.figures.borrow_mut().refuse(Reason::Unavailable);
        log::warn!(
            "bridge {}{}: its session could not join realm '{}': {why}",
            self.spec.transport,
            self.spec.path,
            self.spec.config.realm
        );
        json_response(
            500,
            &serde_json::json!({
                "error": "wamp.error.runtime_error",
                "args": ["Sorry, the router has encountered a problem."],
                "kwargs": {},
            }),
        )
    }
}

impl<H: ComponentHost + 'static> HttpService for Bridge<H> {
    fn serve<'a>(
        &'a self,
        req: &'a HttpRequest,
    ) -> Pin<Box<dyn Future<Output = HttpResponse> + 'a>> {
        Box::pin(self.handle(req))
    }

    fn refused(&self, status: u16) {
        self.figures
            .borrow_mut()
            .refuse(Reason::of_body_status(status));
    }
}

const JSON: &str = "application/json; charset=UTF-8";

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Crossbar.io's headers on every bridge answer: CORS (the request's origin
/// echoed, credentials allowed, requested headers allowed), no caching, JSON.
fn common_headers(req: &HttpRequest, r: &mut HttpResponse) {
    let origin = match req.header("origin") {
        None | Some("null") => "*".to_owned(),
        Some(o) => o.to_owned(),
    };
    r.headers
        .push(("access-control-allow-origin".into(), origin));
    r.headers
        .push(("access-control-allow-credentials".into(), "true".into()));
    r.headers.push((
        "cache-control".into(),
        "no-store,no-cache,must-revalidate,max-age=0".into(),
    ));
    if let Some(h) = req.header("access-control-request-headers") {
        r.headers
            .push(("access-control-allow-headers".into(), h.into()));
    }
}

/// A WAMP error answers 200 with `{"error", "args", "kwargs"}` (a user-level error).
fn wamp_error(e: &CallError) -> HttpResponse {
    json_response(
        200,
        &serde_json::json!({
            "error": e.uri,
            "args": e.args.iter().map(to_json).collect::<Vec<_>>(),
            "kwargs": dict_json(&e.kwargs),
        }),
    )
}

fn json_response(status: u16, v: &serde_json::Value) -> HttpResponse {
    HttpResponse::new(status, JSON, v.to_string().into_bytes())
}

/// `content-type` → `Content-Type`, as Twisted names headers.
fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// A JSON value as a WAMP value.
fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::UInt(u),
            (_, Some(i), _) => Value::Int(i),
            (_, _, Some(f)) => Value::Float(f),
            _ => Value::Null,
        },
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => Value::Dict(dict_of(o)),
    }
}

fn dict_of(o: &serde_json::Map<String, serde_json::Value>) -> Dict {
    o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect()
}

/// A WAMP value as JSON (bytes as the WAMP JSON convention's `"\0" + base64`).
fn to_json(v: &Value) -> serde_json::Value {
    use base64::Engine as _;
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::UInt(u) => serde_json::Value::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Str(s) => serde_json::Value::String(s.clone()),
        Value::Bytes(b) => serde_json::Value::String(format!(
            "\0{}",
            base64::engine::general_purpose::STANDARD.encode(b)
        )),
        Value::List(l) => serde_json::Value::Array(l.iter().map(to_json).collect()),
        Value::Dict(d) => dict_json(d),
    }
}

fn dict_json(d: &Dict) -> serde_json::Value {
    serde_json::Value::Object(d.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_canonical() {
        assert_eq!(canonical_header("content-type"), "Content-Type");
        assert_eq!(canonical_header("x-hub-signature"), "X-Hub-Signature");
        assert_eq!(canonical_header("host"), "Host");
    }

    #[test]
    fn json_round_trips() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"a":[1,-2,3.5,"x",null,true],"b":{}}"#).unwrap();
        assert_eq!(to_json(&from_json(&v)), v);
    }
}
