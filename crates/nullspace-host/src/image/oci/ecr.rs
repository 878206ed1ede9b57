//! AWS ECR logins: `GetAuthorizationToken` signed with Signature Version 4, whose
//! token (`AWS:<password>`, base64) is the registry's basic credential.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use sha2::{Digest, Sha256};

use super::OciError;

/// The ECR API endpoint of `region` unless the operator names another.
pub const DEFAULT_ENDPOINT: &str = "https://api.ecr.{region}.amazonaws.com/";
/// The call made.
const TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";
/// Largest answer read from the endpoint, bytes.
const MAX_ANSWER: usize = 1 << 20;

/// AWS credentials of an ECR login.
#[derive(Clone)]
pub struct AwsKeys {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
    /// Region of the registry (`us-east-1`).
    pub region: String,
}

impl std::fmt::Debug for AwsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AwsKeys({}, {}, <redacted>)",
            self.access_key_id, self.region
        )
    }
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// `YYYYMMDDTHHMMSSZ` of a time.
pub fn amz_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The `Authorization` header of a request, signed with SigV4.
///
/// `headers` are the signed headers as lower-case names with values (`host` and
/// `x-amz-date` among them), sorted by name.
pub fn authorization(
    keys: &AwsKeys,
    service: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    date: &str,
) -> String {
    let names: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
    let signed = names.join(";");
    let canonical_headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    let canonical = format!(
        "{method}\n{path}\n\n{canonical_headers}\n{signed}\n{}",
        hex::encode(Sha256::digest(body))
    );
    let day = &date[..8];
    let scope = format!("{day}/{}/{service}/aws4_request", keys.region);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut k = hmac(
        format!("AWS4{}", keys.secret_access_key).as_bytes(),
        day.as_bytes(),
    );
    for part in [keys.region.as_str(), service, "aws4_request"] {
        k = hmac(&k, part.as_bytes());
    }
    let signature = hex::encode(hmac(&k, to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
        keys.access_key_id
    )
}

/// Exchanges `keys` for the registry's user name and password at `endpoint`
/// (`{region}` replaced; [`DEFAULT_ENDPOINT`] when `None`).
pub async fn login(
    keys: &AwsKeys,
    endpoint: Option<&str>,
    extra_ca_pem: &[Vec<u8>],
) -> Result<(String, String), OciError> {
    let url = endpoint
        .unwrap_or(DEFAULT_ENDPOINT)
        .replace("{region}", &keys.region);
    let unreachable = |reason: String| OciError::Unreachable {
        registry: format!("the ECR API at {url}"),
        reason,
    };
    let parsed = reqwest::Url::parse(&url).map_err(|e| unreachable(e.to_string()))?;
    let host = match (parsed.host_str(), parsed.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return Err(unreachable("the endpoint has no host".into())),
    };
    let date = amz_date(SystemTime::now());
    let body = b"{}";
    let ctype = "application/x-amz-json-1.1";
    let mut headers = vec![
        ("content-type", ctype),
        ("host", host.as_str()),
        ("x-amz-date", date.as_str()),
    ];
    if let Some(t) = &keys.session_token {
        headers.push(("x-amz-security-token", t.as_str()));
    }
    headers.push(("x-amz-target", TARGET));
    let auth = authorization(keys, "ecr", "POST", parsed.path(), &headers, body, &date);
    let mut client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(60));
    for pem in extra_ca_pem {
        if let Ok(c) = reqwest::Certificate::from_pem(pem) {
            client = client.add_root_certificate(c);
        }
    }
    let client = client.build().map_err(|e| unreachable(e.to_string()))?;
    let mut req = client
        .post(parsed.clone())
        .header("content-type", ctype)
        .header("x-amz-date", &date)
        .header("x-amz-target", TARGET)
        .header("authorization", auth)
        .body(&body[..]);
    if let Some(t) = &keys.session_token {
        req = req.header("x-amz-security-token", t);
    }
    let resp = req.send().await.map_err(|e| unreachable(e.to_string()))?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| unreachable(e.to_string()))?;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_ANSWER)]).into_owned();
    let refused = |reason: String| OciError::Unauthorized {
        registry: format!("the ECR API at {url}"),
        reference: format!("a token for region {}", keys.region),
        reason,
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if !status.is_success() {
        let kind = v.get("__type").and_then(|t| t.as_str()).unwrap_or("");
        let message = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(|m| m.as_str())
            .unwrap_or("");
        return Err(refused(
            format!("HTTP {status} {kind} {message}").trim().to_owned(),
        ));
    }
    let token = v
        .pointer("/authorizationData/0/authorizationToken")
        .and_then(|t| t.as_str())
        .ok_or_else(|| refused("the answer holds no authorizationToken".into()))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| refused("the token is not base64 text".into()))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| refused("the token is not USER:PASSWORD".into()))?;
    Ok((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> AwsKeys {
        AwsKeys {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn signatures_match_the_aws_examples() {
        // The SigV4 test suite's get-vanilla request.
        let date = "20150830T123600Z";
        let h = [("host", "example.amazonaws.com"), ("x-amz-date", date)];
        assert_eq!(
            authorization(&example(), "service", "GET", "/", &h, b"", date),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        // GetAuthorizationToken as botocore signs it.
        let h = [
            ("content-type", "application/x-amz-json-1.1"),
            ("host", "api.ecr.us-east-1.amazonaws.com"),
            ("x-amz-date", date),
            ("x-amz-target", TARGET),
        ];
        assert!(
            authorization(&example(), "ecr", "POST", "/", &h, b"{}", date).ends_with(
                "SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
             Signature=527a2155e9afc2426cb4c659023df9c031e8103458f349819615ff25111f5de0"
            )
        );
    }

    #[test]
    fn dates_are_utc_basic_format() {
        let t = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        assert_eq!(amz_date(t), "20150830T123600Z");
        assert_eq!(amz_date(UNIX_EPOCH), "19700101T000000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_599);
        assert_eq!(amz_date(leap), "20000229T005959Z");
    }

    #[test]
    fn keys_never_print_the_secret() {
        assert!(!format!("{:?}", example()).contains("EXAMPLEKEY"));
    }

    /// A one-request HTTP server answering `status` and `body`; returns its URL and
    /// the request it saw.
    fn endpoint(status: &str, body: &str) -> (String, std::thread::JoinHandle<String>) {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", l.local_addr().unwrap());
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let seen = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = vec![0u8; 8192];
            let mut got = Vec::new();
            while !String::from_utf8_lossy(&got).contains("\r\n\r\n{}") {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(answer.as_bytes()).unwrap();
            String::from_utf8_lossy(&got).into_owned()
        });
        (url, seen)
    }

    #[tokio::test]
    async fn a_login_signs_the_call_and_decodes_the_token() {
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:the-password");
        let (url, seen) = endpoint(
            "200 OK",
            &format!(
                r#"{{"authorizationData":[{{"authorizationToken":"{token}","proxyEndpoint":"https://x"}}]}}"#
            ),
        );
        let got = login(&example(), Some(&url), &[]).await.unwrap();
        assert_eq!(got, ("AWS".to_owned(), "the-password".to_owned()));
        let req = seen.join().unwrap().to_lowercase();
        assert!(req.starts_with("post / http/1.1"), "{req}");
        assert!(
            req.contains(&format!("x-amz-target: {}", TARGET.to_lowercase())),
            "{req}"
        );
        assert!(
            req.contains("authorization: aws4-hmac-sha256 credential=akidexample/"),
            "{req}"
        );
        assert!(req.contains("/us-east-1/ecr/aws4_request"), "{req}");
    }

    #[tokio::test]
    async fn a_refused_login_says_what_aws_said() {
        let (url, _seen) = endpoint(
            "400 Bad Request",
            r#"{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}"#,
        );
        let e = login(&example(), Some(&url), &[]).await.unwrap_err();
        assert!(matches!(e, OciError::Unauthorized { .. }), "{e}");
        let text = e.to_string();
        assert!(text.contains("UnrecognizedClientException"), "{text}");
        assert!(text.contains("security token"), "{text}");
        let e = login(&example(), Some("http://127.0.0.1:1/"), &[])
            .await
            .unwrap_err();
        assert!(matches!(e, OciError::Unreachable { .. }), "{e}");
    }
}
