"""Typed settings: every configurable rule and every endpoint the app reads.

Read from environment variables (Azure app settings; `local.settings.json` locally) with the
prefix ``CTS_`` and ``__`` between nested names, e.g. ``CTS_PROVISIONING__MEMBERSHIP_MODE=strict``.
`local.settings.sample.json` lists every one of them with a sample value.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FromTeams(StrEnum):
    """Which tasks made in Teams become Commerce tasks (docs/tasks.md, "Tasks made in Teams")."""

    OFF = "off"  # none: tasks made in Teams stay Teams-only
    PUBLISHED = "published"  # lists published from Teams (Tasks by Planner -> Published lists)
    ADHOC = "adhoc"  # tasks a store manager creates in the store team's plan
    ALL = "all"  # both


class MembershipMode(StrEnum):
    FLEXIBLE = "flexible"  # people added by hand in Teams are left alone
    STRICT = "strict"  # people the integration did not add are removed


class ProvisioningSettings(BaseModel):
    team_name_template: str = "{store_name} ({store_number})"
    mail_nickname_template: str = "store-{store_number}"
    description_template: str = "Store team for {store_name} ({store_number}), kept in sync with Commerce."
    visibility: str = "private"
    # Jobs (or POS permission groups) that make a worker a store manager at a store.
    manager_jobs: list[str] = Field(default_factory=lambda: ["Store manager"])
    region_managers_are_owners: bool = False
    channels: list[str] = Field(default_factory=list, description="Channels beyond General")
    plan_title: str = "Store tasks"
    communications_team_enabled: bool = True
    communications_team_name: str = "Store communications"
    communications_team_mail_nickname: str = "store-communications"
    communications_team_description: str = "Region and communications managers, kept in sync with Commerce."
    communications_role: str = "Retail task manager"
    region_teams_enabled: bool = False
    region_team_name_template: str = "{region_name} region"
    region_team_mail_nickname_template: str = "region-{region_id}"
    region_team_description_template: str = "Region team for {region_name}, kept in sync with Commerce."
    membership_mode: MembershipMode = MembershipMode.FLEXIBLE
    # Safety rails: a plan over these limits is held and reported, not executed.
    max_removal_ratio: float = Field(default=0.5, ge=0.0, le=1.0)
    max_removal_min_team_size: int = Field(
        default=4, ge=0, description="Teams smaller than this are not guarded"
    )
    max_archives_per_run: int = Field(default=5, ge=0)
    # Licences before teams (docs/provisioning.md): an owner without a Teams licence makes team
    # creation fail, so unlicensed managers are members, not owners, and a store without any
    # licensed manager is reported blocked. The licence is read with the identity (assignedPlans).
    require_teams_licence: bool = True
    # Role tags (docs/provisioning.md): Commerce job -> Teams tag name on the store team, e.g.
    # {"Shift lead": "Shift leads", "Cashier": "Cashiers"}, so a manager can @mention a role.
    # Empty: off (tags are neither read nor written).
    role_tags: dict[str, str] = Field(default_factory=dict)


class GraphSettings(BaseModel):
    base_url: str = "https://graph.microsoft.com/v1.0"
    beta_url: str = "https://graph.microsoft.com/beta"
    tenant_id: str = ""
    # "managed_identity" | "client_certificate" | "static_token" (sandboxes only)
    auth: str = "managed_identity"
    client_id: str = ""
    certificate_path: str = ""
    static_token: str = ""
    max_retries: int = 6
    max_retry_wait_seconds: float = 60.0
    # POST /teams paced to Graph's limit of 10 per second per app per tenant
    # (https://learn.microsoft.com/graph/throttling-limits), shared by the instance's worker
    # processes, instead of bursting into 429s (shared/graph/pacing.py). 0 = not paced.
    team_creates_per_second: float = Field(default=10.0, ge=0)
    # A UPN resolved to an Entra user id is reused this long by the team it was resolved for
    # (kept on the team's record), so a pass over a converged team does not look up every worker
    # again. 0 = look up every time. A UPN moved to another account is seen within this time.
    identity_cache_minutes: int = Field(default=360, ge=0)
    # Service plans that count as a Microsoft Teams licence (assignedPlans with capabilityStatus
    # Enabled). Default TEAMS1, part of Microsoft 365 Business Standard/E3/F1/F3 and Office 365 SKUs.
    teams_service_plan_ids: list[str] = Field(
        default_factory=lambda: ["57ff2da0-773e-42df-b2af-ffb7a2317929"]
    )


class CommerceEntitySets(BaseModel):
    """OData entity set (public collection) names under `/data/`. Defaults are the project's
    best reading of the published data entities; most are unconfirmed (docs/commerce.md) and must
    be checked against the environment's `/data/$metadata`."""

    stores: str = "RetailStores"
    workers: str = "Workers"
    assignments: str = "RetailChannelWorkers"
    hierarchy: str = "RetailReportingHierarchyNodes"
    hierarchy_managers: str = "RetailHierarchyManagers"
    worker_roles: str = "RetailWorkerSecurityRoles"
    team_mappings: str = "RetailTeamsSourceTeamMappings"
    task_lists: str = "CTSTaskLists"
    tasks: str = "CTSTaskDefinitions"
    store_tasks: str = "CTSTasks"


class CommerceSettings(BaseModel):
    base_url: str = "https://contoso.operations.dynamics.com"
    auth: str = "managed_identity"
    client_id: str = ""
    static_token: str = ""
    cross_company: bool = True
    # The default legal entity (dataAreaId) of the integration's user; stores carry their own.
    legal_entity: str = "USRT"
    # The legal entities whose events are handled, comma-separated (CTS_COMMERCE__LEGAL_ENTITIES);
    # empty: only `legal_entity`. Events of any other company are rejected (`other_legal_entity`).
    legal_entities: str = ""
    page_size: int = 1000
    # Token scope; empty means f"{base_url}/.default".
    scope: str = ""
    timeout_seconds: float = 30.0
    max_retries: int = 5
    max_retry_wait_seconds: float = 60.0
    entity_sets: CommerceEntitySets = Field(default_factory=CommerceEntitySets)
    # Overrides of OData field names, "<entity>.<field>" -> name, e.g. {"store.status": "StoreStatus"};
    # the keys and defaults are listed in docs/commerce.md (shared/commerce/schema.py).
    field_names: dict[str, str] = Field(default_factory=dict)
    # Write each store's team to Commerce's "Teams mapping between source and team" entity
    # (SOURCETYPE RetailStore), so Microsoft's POS task integration finds it (docs/commerce.md).
    write_team_mappings: bool = True
    # Mapping rows created at about the same time go together in one OData $batch call of at most
    # this many creates (F&O documents up to 5,000 operations per batch); 1 sends one POST per row
    # (shared/commerce/batch.py, docs/commerce.md).
    team_mapping_batch_size: int = Field(default=100, ge=1, le=5000)
    # The `or`-chain GETs of one look-up ("one of these values": a reconciliation batch's ~500
    # workers are 13 chains) go together in one OData $batch call of at most this many GETs; 1
    # sends one GET per chain (shared/commerce/batch.py `read_pages`, docs/commerce.md).
    read_batch_size: int = Field(default=50, ge=1, le=5000)

    @property
    def served_legal_entities(self) -> frozenset[str]:
        listed = {e.strip().upper() for e in self.legal_entities.split(",") if e.strip()}
        return frozenset(listed or {self.legal_entity.strip().upper()})


class DataverseSettings(BaseModel):
    # The environment URL, e.g. https://contoso.crm.dynamics.com (the Web API is /api/data/v9.2).
    base_url: str = "https://contoso.crm.dynamics.com"
    api_path: str = "/api/data/v9.2"
    auth: str = "managed_identity"  # managed_identity | default | static_token (sandbox)
    client_id: str = ""
    static_token: str = ""
    scope: str = ""  # empty: <base_url>/.default
    # Prefer: odata.maxpagesize (Dataverse's maximum and default is 5,000 rows).
    page_size: int = Field(default=5000, ge=1, le=5000)
    timeout_seconds: float = 30.0
    # Service protection counts 6,000 requests per user in a sliding 5-minute window and may ask to
    # wait up to the window's end: a request may wait one whole window before giving up.
    max_retries: int = 10
    max_retry_wait_seconds: float = 330.0


class BusSettings(BaseModel):
    # Name of the app setting holding the connection (the trigger's `connection=` name).
    connection_setting: str = "ServiceBusConnection"
    topic: str = "commerce-events"
    subscription: str = "teams-sync"
    max_replays: int = 3
    # Local stack only: the embedded broker's SQLite file, for the DLQ tools (shared/ops/connection.py).
    local_broker: str = ""
    # ... and the factory that opens it, `module:callable` (the edge picks the stand-in: shared/ and
    # functions/ never import local/), e.g. local.host.broker:open_ops_broker.
    local_broker_factory: str = ""


class StateSettings(BaseModel):
    backend: str = "sqlite"  # "sqlite" | "table"
    sqlite_path: str = ".local/state.sqlite"
    table_endpoint: str = ""
    table_prefix: str = "cts"
    # NCRONTAB of the housekeeping timer (the binding reads CTS_STATE__HOUSEKEEPING_SCHEDULE):
    # deletes the rows below once they no longer matter (shared/state/housekeeping.py).
    housekeeping_schedule: str = "0 40 3 * * *"
    # Dedupe records of handled events are kept this long. Service Bus redelivers within the
    # queue's message TTL (infra: P14D); a redelivery later than this costs one redundant pass.
    event_retention_days: int = Field(default=14, ge=1, le=3650)
    # Echo notes are kept this long past their expiry: a change notification that waited longer
    # than this in the queue counts as drift instead of an echo (one converged no-op pass).
    echo_retention_hours: int = Field(default=24, ge=1, le=24 * 365)


class TaskSettings(BaseModel):
    # Adaptive Planner poll (docs/tasks.md, "Polling"): a plan that changed in the last hour is
    # listed every `poll_interval_seconds`; one that changed in the last day or has an open task
    # due within a day every `poll_warm_interval_seconds`; the others every
    # `poll_quiet_interval_seconds`. At most `poll_budget_per_hour` listings an hour (0: no
    # budget; Graph publishes no Planner limits); the most overdue go first.
    poll_interval_seconds: int = 120
    poll_warm_interval_seconds: int = Field(default=900, ge=0)
    poll_quiet_interval_seconds: int = Field(default=3600, ge=0)
    poll_budget_per_hour: int = Field(default=36_000, ge=0)
    use_beta_delta: bool = False
    # To Do mode: a task assigned to one worker is also mirrored into their To Do list of this name
    # (docs/tasks.md); the worker's status changes there come back through todoTask notifications.
    todo_mode: bool = False
    todo_list_name: str = Field(default="Store tasks", min_length=1, max_length=255)
    # dueDateTime = the due date at this hour in the store's time zone (noon: the same calendar day
    # for anyone within +-11 h of the store). See docs/tasks.md.
    due_hour: int = Field(default=12, ge=0, le=23)
    # Used when a store's ChannelTimeZone is in none of the tables (reported).
    default_time_zone: str = "UTC"
    # A mirrored task deleted in Teams cancels the Commerce task (False: it is re-created).
    planner_delete_cancels_commerce: bool = True
    # Mass-delete guard: a plan whose listing lacks at least this share of its mirrored tasks (and
    # has at least `mass_delete_min_tasks`) is held: nothing is cancelled in Commerce; reported.
    mass_delete_ratio: float = Field(default=0.8, gt=0.0, le=1.0)
    mass_delete_min_tasks: int = Field(default=5, ge=1)
    # NCRONTAB (six fields, seconds first) of the Planner poll timer; the binding reads
    # CTS_TASKS__POLL_SCHEDULE. `poll_interval_seconds` is the least time between two polls (a
    # timer firing earlier, e.g. after a restart, is skipped).
    poll_schedule: str = "0 */2 * * * *"
    # NCRONTAB of the task reconciliation: every open store task in Commerce whose version differs
    # from the status table (or that has none) gets a mirror pass (covers lost events).
    reconcile_schedule: str = "0 15 2 * * *"
    # Store context (plan id, time zone, worker <-> user maps) is reused this long per process.
    context_ttl_seconds: int = Field(default=60, ge=0)
    # 412 -> re-read and re-decide, at most this many decisions per pass (then the pass fails and
    # the orchestration retries it).
    max_decide_rounds: int = Field(default=4, ge=1, le=20)
    # Tasks made in Teams that become single-purpose Commerce store tasks and are then mirrored
    # like the others: off | published | adhoc | all (docs/tasks.md, "Tasks made in Teams"). Off by
    # default: nothing is written to Commerce that Commerce did not start, until an operator opts in.
    from_teams: FromTeams = FromTeams.OFF


class ReconcileSettings(BaseModel):
    # NCRONTAB, six fields with seconds (the timer binding reads CTS_RECONCILE__SCHEDULE).
    schedule: str = "0 0 2 * * *"
    sweep_schedule: str = "0 */1 * * * *"
    # Team passes run concurrently per fan-out batch (bounded fan-out).
    batch_size: int = Field(default=25, ge=1, le=500)
    # Batches in flight at once: each is one activity, run by any worker process or instance
    # (FUNCTIONS_WORKER_PROCESS_COUNT, scale-out); Graph's throttling bounds what more can give.
    parallel_batches: int = Field(default=4, ge=1, le=16)
    # A failed sync is restarted by the sweeper only after this long.
    failed_retry_after_seconds: int = Field(default=300, ge=0)
    # The nightly run reads only the teams that changed (/groups/delta + one bulk Commerce read);
    # off: every team is read every night (docs/sync.md, "Nightly reconciliation").
    delta: bool = True


class WebhookSettings(BaseModel):
    # Graph cannot send headers: the function key travels in the URL, e.g.
    # https://<app>.azurewebsites.net/api/graph/notifications?code=<function key> (docs/drift.md).
    notification_url: str = ""
    # Empty: the notification URL (its function takes lifecycle notifications too).
    lifecycle_notification_url: str = ""
    # Echoed by Graph in every notification; compared in constant time. At most 128 characters.
    client_state: str = Field(default="", max_length=128)
    subscriptions_enabled: bool = True
    # NCRONTAB for the subscription keeper timer (read by the binding as CTS_WEBHOOK__SUBSCRIPTION_SCHEDULE).
    subscription_schedule: str = "0 */30 * * * *"
    # Renew a subscription when less than this remains (lifetime is 4,320 min for Teams resources).
    renew_margin_minutes: int = Field(default=720, ge=30)


class ControlSettings(BaseModel):
    """The kill switch and opt-outs (docs/control.md), like the Shifts connector's SuspendAllSyncs
    and per-team enable flag: passes still read, plan and report; they write nothing.

    `suspend_all_writes` is the deployment's switch; `cts suspend` sets a second, runtime one in
    the state store (either suspends). Excluded stores, and stores in an excluded region or
    district, are planned and reported as excluded, never written."""

    suspend_all_writes: bool = False
    excluded_stores: list[str] = Field(default_factory=list, description="Store numbers")
    excluded_regions: list[str] = Field(default_factory=list, description="Region or district ids")


class RecordsSettings(BaseModel):
    """Record-connected channels (docs/records.md). The template is a JSON document
    (CTS_RECORDS__TEMPLATE), validated by shared.records.template.parse_template."""

    enabled: bool = False
    template: str = ""
    # The Service Bus topic Dataverse's Service Bus endpoint sends record events to, and ours on it
    # (the trigger reads CTS_RECORDS__TOPIC / CTS_RECORDS__SUBSCRIPTION).
    topic: str = "dataverse-events"
    subscription: str = "teams-records"
    # The Dynamics 365 app for Teams and the model-driven app its tab opens (docs/records.md).
    teams_app_id: str = "cd2d8695-bdc9-4d8e-9620-cc963ed81f41"
    app_module_id: str = ""
    tab_display_name: str = "Dynamics 365"
    # NCRONTAB of the nightly reconciliation of every connection (CTS_RECORDS__SCHEDULE).
    schedule: str = "0 30 2 * * *"
    batch_size: int = Field(default=10, ge=1, le=200)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CTS_", env_nested_delimiter="__", extra="ignore")

    provisioning: ProvisioningSettings = Field(default_factory=ProvisioningSettings)
    graph: GraphSettings = Field(default_factory=GraphSettings)
    commerce: CommerceSettings = Field(default_factory=CommerceSettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    tasks: TaskSettings = Field(default_factory=TaskSettings)
    reconcile: ReconcileSettings = Field(default_factory=ReconcileSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    control: ControlSettings = Field(default_factory=ControlSettings)
    dataverse: DataverseSettings = Field(default_factory=DataverseSettings)
    records: RecordsSettings = Field(default_factory=lambda: RecordsSettings())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process (cached; tests build `Settings(...)` directly)."""
    return Settings()
