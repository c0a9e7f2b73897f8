//! Workflows (versioned definitions, built-in templates), their executions (start, inspect,
//! cancel, re-run) and metrics.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tekup_auth::Principal;
use tekup_db::Pool;
use tekup_runtime::pagination::{Page, PageQuery, parse_time_cursor, time_cursor};
use tekup_runtime::problem::{FieldError, not_found};
use tekup_runtime::validate::check;
use tekup_runtime::{Problem, in_context};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::definition::{self, Action, Definition, Trigger};
use crate::domain::templates;
use crate::store::executions::{self, DayMetrics, Execution, LogLine, NewExecution, StepRun};
use crate::store::workflows::{self, NewVersion, Workflow};

fn check_name(field: &str, name: &str, errors: &mut Vec<FieldError>) {
    if !crate::http::name_ok(name) {
        errors.push(FieldError::new(
            field,
            "must be 1-100 lower-case letters, digits, _ . or -, starting with a letter or digit",
        ));
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowBody {
    /// The workflow's name; saving under an existing name adds a version.
    name: String,
    #[serde(default)]
    description: String,
    /// `{trigger, steps}`: see the README's workflow reference.
    #[schema(value_type = Object)]
    definition: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowView {
    id: Uuid,
    name: String,
    version: i32,
    description: String,
    active: bool,
    #[schema(value_type = Object)]
    definition: Value,
    created_at: DateTime<Utc>,
}

impl From<Workflow> for WorkflowView {
    fn from(w: Workflow) -> Self {
        Self {
            id: w.id,
            name: w.name,
            version: w.version,
            description: w.description,
            active: w.active,
            definition: w.definition,
            created_at: w.created_at,
        }
    }
}

/// Checks a definition and stores it as the active version of `name`.
async fn save(
    principal: &Principal,
    pool: &Pool,
    name: &str,
    description: &str,
    definition: &Value,
) -> Result<Workflow, Problem> {
    let mut errors = Vec::new();
    check_name("name", name, &mut errors);
    if description.chars().count() > 2000 {
        errors.push(FieldError::new(
            "description",
            "must be at most 2000 characters",
        ));
    }
    let parsed = match definition::parse(definition) {
        Ok(parsed) => Some(parsed),
        Err(mut found) => {
            errors.append(&mut found);
            None
        }
    };
    // A workflow that starts itself would start itself again, without end.
    if let Some(parsed) = &parsed {
        for (i, step) in parsed.steps.iter().enumerate() {
            if matches!(&step.action, Action::Workflow { workflow, .. } if workflow == name) {
                errors.push(FieldError::new(
                    format!("definition.steps[{i}].workflow"),
                    "must not be the workflow itself",
                ));
            }
        }
    }
    check(errors)?;
    let parsed: Definition = parsed.ok_or_else(|| Problem::internal(&"checked above"))?;
    let (kind, key) = parsed.trigger.key();
    in_context!(pool, principal.context(), |conn| {
        if let Trigger::Webhook { webhook_id } = &parsed.trigger {
            crate::store::webhooks::find(conn, *webhook_id)
                .await
                .map_err(|_| {
                    Problem::validation(vec![FieldError::new(
                        "definition.trigger.webhook_id",
                        "is not one of the organization's inbound webhooks",
                    )])
                })?;
        }
        Ok::<_, Problem>(
            workflows::save(
                conn,
                NewVersion {
                    org_id: principal.org_id,
                    name,
                    description,
                    definition,
                    trigger_kind: kind,
                    trigger_key: key.as_deref(),
                    created_by: Some(principal.user_id),
                },
            )
            .await?,
        )
    })
}

/// Save a workflow: a new one, or a new version of one (administrators).
#[utoipa::path(post, path = "/v1/workflows", tag = "workflows", security(("user" = [])),
    request_body = WorkflowBody,
    responses((status = 201, body = WorkflowView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn create(
    principal: Principal,
    pool: web::Data<Pool>,
    body: web::Json<WorkflowBody>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let workflow = save(
        &principal,
        &pool,
        body.name.trim(),
        body.description.trim(),
        &body.definition,
    )
    .await?;
    Ok(HttpResponse::Created().json(WorkflowView::from(workflow)))
}

/// The organization's active workflows by name.
#[utoipa::path(get, path = "/v1/workflows", tag = "workflows", security(("user" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of workflows: {items, next_cursor}")))]
pub async fn list(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = query.limit()?;
    let items = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(
            workflows::list(conn, principal.org_id, query.after.as_deref(), limit).await?,
        )
    })?;
    let views: Vec<WorkflowView> = items.into_iter().map(WorkflowView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |w| w.name.clone())))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowDetail {
    #[serde(flatten)]
    workflow: WorkflowView,
    /// Every version, newest first.
    versions: Vec<VersionView>,
    /// Runs per Copenhagen day, newest first (the last 30 days with runs).
    metrics: Vec<DayMetrics>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    id: Uuid,
    version: i32,
    active: bool,
    created_at: DateTime<Utc>,
}

/// A workflow: its active version, its versions and its metrics.
#[utoipa::path(get, path = "/v1/workflows/{name}", tag = "workflows", security(("user" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = WorkflowDetail),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn show(
    principal: Principal,
    pool: web::Data<Pool>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let (versions, metrics) = in_context!(&pool, principal.context(), |conn| {
        let versions = workflows::versions(conn, principal.org_id, &name).await?;
        let metrics = executions::metrics(conn, principal.org_id, &name, 30).await?;
        Ok::<_, Problem>((versions, metrics))
    })?;
    let Some(current) = versions.iter().find(|v| v.active).cloned() else {
        return Err(Problem::not_found("No such workflow."));
    };
    Ok(HttpResponse::Ok().json(WorkflowDetail {
        versions: versions
            .into_iter()
            .map(|v| VersionView {
                id: v.id,
                version: v.version,
                active: v.active,
                created_at: v.created_at,
            })
            .collect(),
        workflow: WorkflowView::from(current),
        metrics,
    }))
}

/// Stop a workflow: no version stays active, nothing triggers it (administrators). Runs under
/// way finish.
#[utoipa::path(delete, path = "/v1/workflows/{name}", tag = "workflows", security(("user" = [])),
    params(("name" = String, Path)),
    responses((status = 204),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn deactivate(
    principal: Principal,
    pool: web::Data<Pool>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let found = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(workflows::deactivate(conn, principal.org_id, &name).await?)
    })?;
    crate::http::deleted(found, "workflow")
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    name: &'static str,
    description: &'static str,
    #[schema(value_type = Object)]
    definition: Value,
}

/// The built-in workflows an organization may install.
#[utoipa::path(get, path = "/v1/workflow-templates", tag = "workflows", security(("user" = [])),
    responses((status = 200, body = [TemplateView])))]
pub async fn templates(_principal: Principal) -> Result<HttpResponse, Problem> {
    let views: Vec<TemplateView> = templates::all()
        .into_iter()
        .map(|t| TemplateView {
            name: t.name,
            description: t.description,
            definition: t.definition,
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Install a built-in workflow under its name (administrators); installing again adds a
/// version.
#[utoipa::path(post, path = "/v1/workflow-templates/{name}", tag = "workflows", security(("user" = [])),
    params(("name" = String, Path)),
    responses((status = 201, body = WorkflowView),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn install(
    principal: Principal,
    pool: web::Data<Pool>,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    principal.require_admin()?;
    let template = templates::all()
        .into_iter()
        .find(|t| t.name == name.as_str())
        .ok_or_else(|| Problem::not_found("No such template."))?;
    let workflow = save(
        &principal,
        &pool,
        template.name,
        template.description,
        &template.definition,
    )
    .await?;
    Ok(HttpResponse::Created().json(WorkflowView::from(workflow)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// The execution's input (`input.*` in expressions).
    #[serde(default = "empty")]
    #[schema(value_type = Object)]
    input: Value,
    /// Makes a retried request start one execution only.
    #[serde(default)]
    idempotency_key: Option<String>,
}

fn empty() -> Value {
    json!({})
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionView {
    id: Uuid,
    workflow: String,
    version: i32,
    status: String,
    #[schema(value_type = Object)]
    trigger: Value,
    #[schema(value_type = Object)]
    input: Value,
    /// Step outputs so far, by step id.
    #[schema(value_type = Object)]
    outputs: Value,
    /// The index of the step under way (or next).
    step_index: i32,
    error: Option<String>,
    parent_id: Option<Uuid>,
    rerun_of: Option<Uuid>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

impl From<Execution> for ExecutionView {
    fn from(e: Execution) -> Self {
        Self {
            id: e.id,
            workflow: e.workflow_name,
            version: e.workflow_version,
            status: e.status,
            trigger: e.trigger,
            input: e.input,
            outputs: e.outputs,
            step_index: e.step_index,
            error: e.error,
            parent_id: e.parent_id,
            rerun_of: e.rerun_of,
            created_at: e.created_at,
            started_at: e.started_at,
            finished_at: e.finished_at,
        }
    }
}

/// Start an execution of a workflow's active version (administrators and analysts).
#[utoipa::path(post, path = "/v1/workflows/{name}/executions", tag = "executions", security(("user" = [])),
    params(("name" = String, Path)),
    request_body = RunBody,
    responses((status = 202, body = ExecutionView),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn run(
    principal: Principal,
    pool: web::Data<Pool>,
    engine: web::Data<crate::State>,
    name: web::Path<String>,
    body: web::Json<RunBody>,
) -> Result<HttpResponse, Problem> {
    require_operator(&principal)?;
    if !body.input.is_object() {
        return Err(Problem::validation(vec![FieldError::new(
            "input",
            "must be an object",
        )]));
    }
    if body
        .idempotency_key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > 200)
    {
        return Err(Problem::validation(vec![FieldError::new(
            "idempotency_key",
            "must be 1 to 200 characters",
        )]));
    }
    let execution = in_context!(&pool, principal.context(), |conn| {
        let workflow = workflows::active(conn, principal.org_id, &name)
            .await
            .map_err(not_found("such workflow"))?;
        let dedupe = body.idempotency_key.as_ref().map(|k| format!("manual:{k}"));
        let started = executions::start(
            conn,
            NewExecution {
                org_id: principal.org_id,
                workflow_id: workflow.id,
                trigger: &json!({"kind": "manual", "by": principal.user_id}),
                dedupe_key: dedupe.as_deref(),
                input: &body.input,
                created_by: Some(principal.user_id),
                parent_id: None,
                rerun_of: None,
                chain: 0,
            },
        )
        .await?;
        let id = match started {
            Some(id) => id,
            None => {
                executions::by_dedupe_key(conn, workflow.id, dedupe.as_deref().unwrap_or_default())
                    .await?
            }
        };
        Ok::<_, Problem>(executions::find(conn, id).await?)
    })?;
    engine.wake();
    Ok(HttpResponse::Accepted().json(ExecutionView::from(execution)))
}

fn require_operator(principal: &Principal) -> Result<(), Problem> {
    if matches!(
        principal.role,
        tekup_types::Role::Admin | tekup_types::Role::Analyst
    ) {
        Ok(())
    } else {
        Err(Problem::forbidden(
            "Only administrators and analysts may run workflows.",
        ))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExecutionQuery {
    /// Only executions of this workflow (by name).
    workflow: Option<String>,
    /// pending, running, waiting, succeeded, failed or cancelled.
    status: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

const STATUSES: [&str; 6] = [
    "pending",
    "running",
    "waiting",
    "succeeded",
    "failed",
    "cancelled",
];

/// Executions, newest first.
#[utoipa::path(get, path = "/v1/executions", tag = "executions", security(("user" = [])),
    params(ExecutionQuery),
    responses((status = 200, description = "A page of executions: {items, next_cursor}"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn executions(
    principal: Principal,
    pool: web::Data<Pool>,
    query: web::Query<ExecutionQuery>,
) -> Result<HttpResponse, Problem> {
    let page = PageQuery {
        limit: query.limit,
        after: query.after.clone(),
    };
    let limit = page.limit()?;
    let after = parse_time_cursor(page.after.as_deref())?;
    if let Some(status) = &query.status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(Problem::validation(vec![FieldError::new(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        )]));
    }
    let items = in_context!(&pool, principal.context(), |conn| {
        Ok::<_, Problem>(
            executions::list(
                conn,
                query.workflow.as_deref(),
                query.status.as_deref(),
                after,
                limit,
            )
            .await?,
        )
    })?;
    let views: Vec<ExecutionView> = items.into_iter().map(ExecutionView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(views, limit, |e| time_cursor(e.created_at, e.id))))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StepView {
    step_id: String,
    kind: String,
    attempt: i32,
    status: String,
    idempotency_key: String,
    /// The step as defined (templates not rendered: no secret value is stored).
    #[schema(value_type = Object)]
    input: Value,
    #[schema(value_type = Object)]
    output: Option<Value>,
    error: Option<String>,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

impl From<StepRun> for StepView {
    fn from(s: StepRun) -> Self {
        Self {
            step_id: s.step_id,
            kind: s.kind,
            attempt: s.attempt,
            status: s.status,
            idempotency_key: s.idempotency_key,
            input: s.input,
            output: s.output,
            error: s.error,
            started_at: s.started_at,
            finished_at: s.finished_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogView {
    step_id: Option<String>,
    level: String,
    message: String,
    #[schema(value_type = Object)]
    data: Value,
    logged_at: DateTime<Utc>,
}

impl From<LogLine> for LogView {
    fn from(l: LogLine) -> Self {
        Self {
            step_id: l.step_id,
            level: l.level,
            message: l.message,
            data: l.data,
            logged_at: l.logged_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionDetail {
    #[serde(flatten)]
    execution: ExecutionView,
    /// Every attempt of every step, in order.
    steps: Vec<StepView>,
    logs: Vec<LogView>,
}

/// An execution with its steps and logs.
#[utoipa::path(get, path = "/v1/executions/{id}", tag = "executions", security(("user" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ExecutionDetail),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn execution(
    principal: Principal,
    pool: web::Data<Pool>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    let (execution, steps, logs) = in_context!(&pool, principal.context(), |conn| {
        let execution = executions::find(conn, *id)
            .await
            .map_err(not_found("such execution"))?;
        let steps = executions::steps(conn, *id).await?;
        let logs = executions::logs(conn, *id).await?;
        Ok::<_, Problem>((execution, steps, logs))
    })?;
    Ok(HttpResponse::Ok().json(ExecutionDetail {
        execution: ExecutionView::from(execution),
        steps: steps.into_iter().map(StepView::from).collect(),
        logs: logs.into_iter().map(LogView::from).collect(),
    }))
}

/// Cancel an execution that has not ended (administrators and analysts); a step under way
/// finishes, nothing after it runs.
#[utoipa::path(post, path = "/v1/executions/{id}/cancel", tag = "executions", security(("user" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ExecutionView),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json")))]
pub async fn cancel(
    principal: Principal,
    pool: web::Data<Pool>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    require_operator(&principal)?;
    let execution = in_context!(&pool, principal.context(), |conn| {
        let execution = executions::find(conn, *id)
            .await
            .map_err(not_found("such execution"))?;
        if !executions::cancel(conn, *id).await? {
            return Err(Problem::conflict(format!(
                "The execution has already ended ({}).",
                execution.status
            )));
        }
        let cancelled = executions::find(conn, *id).await?;
        crate::engine::finished(
            conn,
            &cancelled,
            "cancelled",
            Some("cancelled by a user"),
            None,
        )
        .await?;
        Ok::<_, Problem>(cancelled)
    })?;
    Ok(HttpResponse::Ok().json(ExecutionView::from(execution)))
}

/// Run an execution again from the start, with the same input, on the workflow's active
/// version (administrators and analysts).
#[utoipa::path(post, path = "/v1/executions/{id}/rerun", tag = "executions", security(("user" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 202, body = ExecutionView),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn rerun(
    principal: Principal,
    pool: web::Data<Pool>,
    engine: web::Data<crate::State>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Problem> {
    require_operator(&principal)?;
    let execution = in_context!(&pool, principal.context(), |conn| {
        let original = executions::find(conn, *id)
            .await
            .map_err(not_found("such execution"))?;
        let workflow = workflows::active(conn, principal.org_id, &original.workflow_name)
            .await
            .map_err(|_| Problem::conflict("The workflow is no longer active."))?;
        let started = executions::start(
            conn,
            NewExecution {
                org_id: principal.org_id,
                workflow_id: workflow.id,
                trigger: &json!({"kind": "rerun", "of": original.id, "by": principal.user_id}),
                dedupe_key: None,
                input: &original.input,
                created_by: Some(principal.user_id),
                parent_id: None,
                rerun_of: Some(original.id),
                chain: 0,
            },
        )
        .await?
        .ok_or_else(|| Problem::internal(&"an execution without a dedupe key always starts"))?;
        Ok::<_, Problem>(executions::find(conn, started).await?)
    })?;
    engine.wake();
    Ok(HttpResponse::Accepted().json(ExecutionView::from(execution)))
}
