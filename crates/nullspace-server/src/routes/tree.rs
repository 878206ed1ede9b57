//! `/v1/machines/{id}/files/search|find|replace`: tree-wide searches and
//! replaces, done inside the machine (`spec/files.md`).

use axum::extract::{Path, State};
use axum::Json;
use nullspace_api::{
    FindRequest, FindResponse, ReplaceRequest, ReplaceResponse, SearchResponse,
    DEFAULT_MAX_FILE_BYTES, DEFAULT_SEARCH_RESULTS, MAX_SEARCH_RESULTS,
};
use serde::Deserialize;

use crate::auth::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::node::{FileAnswer, FileOp, TextQuery};
use crate::params;
use crate::services::files::{op, unexpected};
use crate::state::AppState;
use crate::wire::{entry, running, user};

/// Most paths one replace names.
const MAX_REPLACE_PATHS: usize = 1000;
/// Longest pattern or replacement, characters (as the spec's `maxLength`).
const MAX_PATTERN_CHARS: usize = 4096;

/// `?path=&pattern=&limit=&user=` of a name search.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    path: String,
    pattern: String,
    limit: Option<u32>,
    user: Option<String>,
}

/// A result count between 1 and the most one search answers.
fn count(field: &str, n: Option<u32>) -> ApiResult<u32> {
    let n = n.unwrap_or(DEFAULT_SEARCH_RESULTS);
    if !(1..=MAX_SEARCH_RESULTS).contains(&n) {
        return Err(ApiError::field(
            field,
            format!("must be from 1 to {MAX_SEARCH_RESULTS}"),
        ));
    }
    Ok(n)
}

/// A non-empty pattern of bounded size, without NUL.
fn pattern(field: &str, p: &str) -> ApiResult<String> {
    if p.is_empty() || p.chars().count() > MAX_PATTERN_CHARS {
        return Err(ApiError::field(
            field,
            format!("give 1 to {MAX_PATTERN_CHARS} characters"),
        ));
    }
    params::no_nul(field, p)?;
    Ok(p.to_owned())
}

/// `GET /files/search`: entries whose names match a glob.
pub async fn search(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<SearchResponse>> {
    let o = FileOp::Search {
        path: params::path("path", &q.path)?,
        pattern: pattern("pattern", &q.pattern)?,
        limit: count("limit", q.limit)?,
        user: Some(user(q.user)?),
    };
    let id = running(&state, &tenant, &id).await?;
    match op(&state, &id, o).await? {
        FileAnswer::Search { entries, truncated } => Ok(Json(SearchResponse {
            entries: entries.into_iter().map(entry).collect(),
            truncated,
        })),
        r => Err(unexpected(r)),
    }
}

/// `POST /files/find`: matching lines of files.
pub async fn find(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<FindRequest>,
) -> ApiResult<Json<FindResponse>> {
    let include = req
        .include
        .as_deref()
        .map(|g| pattern("include", g))
        .transpose()?;
    let max_file_bytes = req.max_file_bytes.unwrap_or(DEFAULT_MAX_FILE_BYTES);
    if max_file_bytes == 0 || max_file_bytes > nullspace_api::MAX_FILE_BYTES {
        return Err(ApiError::field(
            "max_file_bytes",
            "must be from 1 to 16 GiB",
        ));
    }
    let o = FileOp::Find {
        path: params::path("path", &req.path)?,
        text: TextQuery {
            pattern: pattern("pattern", &req.pattern)?,
            regex: req.regex,
            case_sensitive: req.case_sensitive.unwrap_or(true),
            include,
        },
        max_results: count("max_results", req.max_results)?,
        max_file_bytes,
        user: Some(user(req.user)?),
    };
    let id = running(&state, &tenant, &id).await?;
    match op(&state, &id, o).await? {
        FileAnswer::Found {
            matches,
            files_scanned,
            truncated,
        } => Ok(Json(FindResponse {
            matches,
            files_scanned,
            truncated,
        })),
        r => Err(unexpected(r)),
    }
}

/// `POST /files/replace`: replace matches in files (or count them with `dry_run`).
pub async fn replace(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReplaceRequest>,
) -> ApiResult<Json<ReplaceResponse>> {
    if req.paths.is_empty() || req.paths.len() > MAX_REPLACE_PATHS {
        return Err(ApiError::field(
            "paths",
            format!("give 1 to {MAX_REPLACE_PATHS} paths"),
        ));
    }
    let paths = req
        .paths
        .iter()
        .enumerate()
        .map(|(i, p)| params::path(&format!("paths[{i}]"), p))
        .collect::<ApiResult<Vec<_>>>()?;
    if req.replace.chars().count() > MAX_PATTERN_CHARS {
        return Err(ApiError::field(
            "replace",
            format!("at most {MAX_PATTERN_CHARS} characters"),
        ));
    }
    params::no_nul("replace", &req.replace)?;
    let include = req
        .include
        .as_deref()
        .map(|g| pattern("include", g))
        .transpose()?;
    let o = FileOp::Replace {
        paths,
        text: TextQuery {
            pattern: pattern("find", &req.find)?,
            regex: req.regex,
            case_sensitive: req.case_sensitive.unwrap_or(true),
            include,
        },
        replacement: req.replace,
        dry_run: req.dry_run,
        max_files: count("max_files", req.max_files)?,
        user: Some(user(req.user)?),
    };
    let id = running(&state, &tenant, &id).await?;
    match op(&state, &id, o).await? {
        FileAnswer::Replaced {
            files,
            total_replacements,
            files_scanned,
            truncated,
        } => Ok(Json(ReplaceResponse {
            files,
            total_replacements,
            files_scanned,
            dry_run: req.dry_run,
            truncated,
        })),
        r => Err(unexpected(r)),
    }
}
