-- escalated: periodic reports of supervisor groups (weekly, monthly). Forward-only; applied in
-- one transaction after the migrations before it.

-- A supervisor group's periodic report: weekly (ISO weeks, Monday to Sunday) or monthly
-- (calendar months), both in the default calendar's time zone, going out at report_minute
-- (minutes after local midnight) on the first day of the next period; NULL for none.
ALTER TABLE escalated.supervisor_groups
    ADD COLUMN report_kind   text CHECK (report_kind IN ('weekly', 'monthly')),
    ADD COLUMN report_minute int CHECK (report_minute BETWEEN 0 AND 1439),
    ADD CONSTRAINT supervisor_groups_report_at_needs_report CHECK (report_minute IS NULL OR report_kind IS NOT NULL);

-- Every periodic report made: one per group, kind and period, with the figures it carries.
-- The unique key makes each period's report happen once, across replicas and restarts: the
-- digest service inserts the row and, in the same transaction and only if it was inserted,
-- the emails to the group's members.
CREATE TABLE escalated.period_reports (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_code   text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('weekly', 'monthly')),
    period_start date NOT NULL,
    period_end   date NOT NULL CHECK (period_end >= period_start),
    figures      jsonb NOT NULL,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT period_reports_once UNIQUE (group_code, kind, period_start)
);
