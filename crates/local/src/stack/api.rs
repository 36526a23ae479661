//! The local API Gateway: an HTTP server on 127.0.0.1 that checks `x-api-key` like a
//! REST API whose methods all require a key (403 without it) and hands each request to
//! the same handler code as Lambda, as the API Gateway proxy event Lambda would
//! receive. Routing is the handler's, on method and path. A body over the API's limit
//! ([`http_api::MAX_BODY_BYTES`]) is answered 413 once that much has been read; the
//! rest is never buffered.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use gbr_core::ports::Ports;
use gbr_core::settings::Settings;
use gbr_lambdas::http_api;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::StackError;
use super::resources::ACCOUNT;

/// A running local API; stopped when dropped.
pub struct LocalApi {
    pub url: String,
    pub api_key: String,
    stop: watch::Sender<bool>,
}

impl Drop for LocalApi {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

struct Backend {
    ports: Arc<Ports>,
    settings: Arc<Settings>,
    api_key: String,
}

/// Serves on `addr` (port 0 picks a free port) until the returned handle is dropped.
pub async fn serve(
    addr: SocketAddr,
    api_key: String,
    ports: Arc<Ports>,
    settings: Arc<Settings>,
) -> Result<LocalApi, StackError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| StackError::Api(format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| StackError::Api(format!("no local address: {e}")))?;
    let (stop, mut stopped) = watch::channel(false);
    let backend = Arc::new(Backend {
        ports,
        settings,
        api_key: api_key.clone(),
    });
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stopped.changed() => return,
            };
            let Ok((stream, peer)) = accepted else {
                continue;
            };
            let backend = Arc::clone(&backend);
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let backend = Arc::clone(&backend);
                    async move { Ok::<_, Infallible>(backend.answer(request, peer).await) }
                });
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %e, "local API connection ended with an error");
                }
            });
        }
    });
    Ok(LocalApi {
        url: format!("http://{local}"),
        api_key,
        stop,
    })
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

impl Backend {
    async fn answer(&self, request: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_owned();
        let key = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok());
        if key != Some(self.api_key.as_str()) {
            return json_response(StatusCode::FORBIDDEN, &json!({"message": "Forbidden"}));
        }
        let body = match Limited::new(body, http_api::MAX_BODY_BYTES).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) if e.is::<LengthLimitError>() => {
                let error = http_api::payload_too_large(None);
                return json_response(StatusCode::PAYLOAD_TOO_LARGE, &json!(error));
            }
            Err(e) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"message": format!("unreadable body: {e}")}),
                );
            }
        };
        let mut headers = Map::new();
        let mut multi = Map::new();
        for (name, value) in &parts.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers.insert(name.as_str().to_owned(), json!(value));
            multi.insert(name.as_str().to_owned(), json!([value]));
        }
        let mut query = Map::new();
        let mut multi_query = Map::new();
        for (name, value) in form_urlencoded_pairs(parts.uri.query().unwrap_or_default()) {
            query.insert(name.clone(), json!(value));
            if let Some(values) = multi_query
                .entry(name)
                .or_insert_with(|| json!([]))
                .as_array_mut()
            {
                values.push(json!(value));
            }
        }
        let (query, multi_query) = if query.is_empty() {
            (Value::Null, Value::Null)
        } else {
            (Value::Object(query), Value::Object(multi_query))
        };
        let event = json!({
            "resource": path,
            "path": path,
            "httpMethod": parts.method.as_str(),
            "headers": headers,
            "multiValueHeaders": multi,
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query,
            "pathParameters": null,
            "stageVariables": null,
            "body": String::from_utf8_lossy(&body),
            "isBase64Encoded": false,
            "requestContext": {
                "resourcePath": path,
                "httpMethod": parts.method.as_str(),
                "path": format!("/local{path}"),
                "stage": "local",
                "requestId": uuid::Uuid::new_v4().to_string(),
                "accountId": ACCOUNT,
                "apiId": "local",
                "identity": { "apiKey": self.api_key, "sourceIp": peer.ip().to_string() },
            },
        });
        let request = match lambda_http::request::from_str(&event.to_string()) {
            Ok(r) => r,
            Err(e) => {
                return json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &json!({"message": format!("proxy event: {e}")}),
                );
            }
        };
        let Ok(response) = http_api::handle(&self.ports, &self.settings, request).await;
        let (parts, body) = response.into_parts();
        let mut out = Response::new(Full::new(Bytes::copy_from_slice(body.as_ref())));
        *out.status_mut() = parts.status;
        *out.headers_mut() = parts.headers;
        out
    }
}

/// The `name=value` pairs of a query string, decoded as API Gateway decodes them.
fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode =
                |s: &str| gbr_core::object_id::form_decode_key(s).unwrap_or_else(|_| s.to_owned());
            (decode(name), decode(value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::Duration;

    use gbr_core::fakes::World;

    use super::*;

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_with_413_without_reading_the_rest() {
        let w = World::new();
        let api = serve(
            "127.0.0.1:0".parse().unwrap(),
            "key".into(),
            Arc::new(w.ports.clone()),
            Arc::new(w.settings.clone()),
        )
        .await
        .unwrap();
        let limit = http_api::MAX_BODY_BYTES;
        let addr = api.url.trim_start_matches("http://").to_owned();
        // A body announced as 1 GiB of which one byte past the limit is sent: the answer
        // must come without the rest.
        let answer = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let head = format!(
                "POST /create-job HTTP/1.1\r\nhost: local\r\nx-api-key: key\r\ncontent-length: {}\r\n\r\n",
                1u64 << 30
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&vec![b' '; limit + 1]).unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            answer
        })
        .await
        .unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 413 "), "{head}");
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"], "PayloadTooLarge");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("over {limit} bytes")),
            "{message}"
        );

        // A body of exactly the limit reaches the handler, which finds no JSON in it.
        let response = reqwest::Client::new()
            .post(format!("{}/create-job", api.url))
            .header("x-api-key", &api.api_key)
            .body(vec![b' '; limit])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "InvalidRequest", "{body}");
        assert!(w.executions.started.lock().unwrap().is_empty());
    }
}
