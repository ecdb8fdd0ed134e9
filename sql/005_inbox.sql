-- escalated: the inbox in deadline order, at any size.
-- Forward-only; applied in one transaction after 004.

-- An inbox lists open issues by running deadline, then those without one (unroutable issues, and
-- sectors without deadlines) by id. The first part walks issues_due (002); this index is the
-- second part's, so a supervisor's inbox does not read every closed issue to find the few open
-- ones without a deadline. It holds only such issues, so routing (which gives most issues a
-- deadline) rarely writes to it.
CREATE INDEX issues_open_undue ON escalated.issues (id)
    WHERE due_at IS NULL AND state IN ('routed', 'acknowledged', 'reopened', 'unroutable');
