//! The process stream WebSocket over the do-nothing node, on a real socket:
//! upgrade errors are plain JSON answers, and a stream opens with `start`,
//! carries output in binary messages and ends with `end` and close 1000.

mod common;

use axum::http::Method;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("ws://{addr}")
}

async fn open(
    base: &str,
    path: &str,
    key: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    (u16, Value),
> {
    let mut req = format!("{base}{path}").into_client_request().unwrap();
    if let Some(k) = key {
        req.headers_mut()
            .insert("authorization", format!("Bearer {k}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(WsError::Http(resp)) => {
            let status = resp.status().as_u16();
            let body = resp.body().clone().unwrap_or_default();
            Err((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
        }
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn a_stream_sends_start_output_and_end() {
    let api = common::api();
    let base = serve(api.app.clone()).await;
    let m = api.create(json!({})).await;
    let id = m["id"].as_str().unwrap().to_owned();
    let (_, p) = api
        .call(
            Method::POST,
            &format!("/v1/machines/{id}/processes"),
            Some(json!({"command": "sleep 100"})),
        )
        .await;
    let pid = p["pid"].as_u64().unwrap();
    let path = format!("/v1/machines/{id}/processes/{pid}/stream?stdout_offset=6");
    let mut ws = open(&base, &path, Some(&api.key)).await.unwrap();
    let mut got = Vec::new();
    while let Some(msg) = ws.next().await {
        match msg.unwrap() {
            Message::Text(t) => got.push(serde_json::from_str::<Value>(t.as_str()).unwrap()),
            Message::Binary(b) => got.push(json!({"binary": b.to_vec()})),
            Message::Close(frame) => {
                assert_eq!(u16::from(frame.unwrap().code), 1000);
                break;
            }
            _ => {}
        }
    }
    assert_eq!(
        got[0],
        json!({"type": "start", "pid": pid, "stdout_offset": 6, "stderr_offset": 0})
    );
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(b"100\n");
    assert_eq!(got[1], json!({"binary": bytes}));
    assert_eq!(got[2]["type"], "end");
    assert_eq!(got[2]["running"], true, "the fake does not follow");
    assert_eq!(got[2]["stdout_offset"], 10);
    assert_eq!(got.len(), 3);
}

#[tokio::test]
async fn upgrade_errors_are_json_answers() {
    let api = common::api();
    let base = serve(api.app.clone()).await;
    let m = api.create(json!({})).await;
    let id = m["id"].as_str().unwrap().to_owned();
    let (_, p) = api
        .call(
            Method::POST,
            &format!("/v1/machines/{id}/processes"),
            Some(json!({"command": "sleep 100"})),
        )
        .await;
    let pid = p["pid"].as_u64().unwrap();
    let stream = format!("/v1/machines/{id}/processes/{pid}/stream");
    let code = |e: (u16, Value)| (e.0, e.1["error"]["code"].as_str().unwrap_or("").to_owned());
    let e = open(&base, &stream, None).await.err().unwrap();
    assert_eq!(code(e), (401, "unauthorized".into()));
    let e = open(&base, &stream, Some("ns_live_bogus"))
        .await
        .err()
        .unwrap();
    assert_eq!(code(e).0, 401);
    let e = open(&base, &stream, Some(&api.other_key))
        .await
        .err()
        .unwrap();
    assert_eq!(code(e), (404, "not_found".into()));
    let unknown = format!("/v1/machines/{id}/processes/4242/stream");
    let e = open(&base, &unknown, Some(&api.key)).await.err().unwrap();
    assert_eq!(code(e), (404, "process_not_found".into()));
    let not_pty = format!("/v1/machines/{id}/pty/{pid}/connect");
    let e = open(&base, &not_pty, Some(&api.key)).await.err().unwrap();
    assert_eq!(code(e), (404, "process_not_found".into()));
    let beyond = format!("{stream}?stdout_offset=999");
    let e = open(&base, &beyond, Some(&api.key)).await.err().unwrap();
    assert_eq!(code(e), (422, "validation_error".into()));
    let bad = format!("{stream}?follow=maybe");
    let e = open(&base, &bad, Some(&api.key)).await.err().unwrap();
    assert_eq!(code(e), (422, "validation_error".into()));
}
