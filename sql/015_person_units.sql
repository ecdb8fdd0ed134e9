-- escalated: the units each person has been assigned issues in. Forward-only; applied in one transaction after 014.

-- A member's scope is their areas' units, and any issue assigned to them as a person (the row's
-- `people`, 013). Their dashboards read a period of their areas' units by unit (014's indexes);
-- the issues assigned to them elsewhere are found here: the units of those issues, each then read
-- by unit too, instead of the whole directory's period searched for their code (for a member of
-- a national directory, 27,000 entries a month to find usually none).
-- Written by the routing statement, beside the row's `people` (only routing assigns persons), in
-- one sorted insert per statement that skips the pairs already here: a pair is new once in its
-- life, so two routing statements wait on each other only when both add the same new pair at
-- once, and, adding theirs in the same order, never in a cycle. Only ever added to: it may list a
-- unit that no longer has such an issue (a read of an empty range), never miss one.
-- Not a trigger: measured (BENCHMARKS.md, migration 015), a row trigger cost routing about 50 µs an
-- issue, and a statement trigger (transition tables) about 9 µs for every row of every update of
-- `issues`, the lifecycle's included, which never changes `people`.
CREATE TABLE escalated.person_units (
    person_code text NOT NULL,
    unit_code text NOT NULL,
    PRIMARY KEY (person_code, unit_code)
);

-- The pairs so far. Run again after a rolling upgrade (an older daemon routes without adding its
-- pairs), it adds only those missing. A million issues: about a second.
INSERT INTO escalated.person_units (person_code, unit_code)
SELECT DISTINCT p, i.unit_code FROM escalated.issues i, unnest(i.people) p
ON CONFLICT DO NOTHING;
ANALYZE escalated.person_units;
