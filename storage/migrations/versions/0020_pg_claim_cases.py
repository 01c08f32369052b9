"""PostgreSQL: a group of claims in one statement, the function raabta_claim_cases

A group of claims served together (storage.claimgroup) was seven round trips in a transaction: BEGIN, the
pick, the UPDATE, the audit chain's advisory lock, the chain's head, the audit INSERT, COMMIT. With this
function it is two, both outside any transaction: the pick (without locks) reads the cases to claim and
the chain's head in one statement; the process chains the audit events onto that head with its key (the
key never reaches the server); then this function, one statement PostgreSQL commits by itself:

- takes the chain's advisory lock (the one storage.audit takes), so appends stay one behind the other;
- checks that the chain's head is still `p_head` (NULL: the chain is empty) and that every case of
  `p_ids` is still claimable at `p_now` (new, or in review under a lease that ran out), taking each row's
  lock FOR UPDATE SKIP LOCKED (a row another transaction holds counts as taken: no waiting, no deadlock);
- if not, it changes nothing and returns no row: the caller claims again in a transaction that locks as
  it picks (the way every claim went before this revision);
- otherwise it appends the chained events in order (`p_subjects`, `p_prevs`, `p_hashes`, each by its
  case's new holder, all at `p_now` with `p_detail`) and hands each case of `p_ids` to its holder of
  `p_owners` until `p_lease_until`, with the columns `storage.claimgroup.claim_statement` sets, returning
  the claimed rows.

SQLite has no stored functions and keeps its own claim path: this revision does nothing there. The
function's text is frozen here; a change to it is a new revision (CREATE OR REPLACE).

Revision ID: 0020
Revises: 0019
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION raabta_claim_cases(
    p_ids integer[], p_owners text[], p_now timestamptz, p_lease_until timestamptz, p_head text,
    p_action text, p_subjects text[], p_detail json, p_prevs text[], p_hashes text[]
) RETURNS SETOF cases LANGUAGE plpgsql AS $$
DECLARE
    v_head text;
    v_free integer;
BEGIN
    -- storage.audit's lock (_LOCK): every append to the chain holds it to its transaction's end
    PERFORM pg_advisory_xact_lock(7201001);
    -- a statement after the lock's: under READ COMMITTED it sees every append committed before it
    SELECT hash INTO v_head FROM audit_events ORDER BY id DESC LIMIT 1;
    IF v_head IS DISTINCT FROM p_head THEN
        RETURN;
    END IF;
    SELECT count(*) INTO v_free FROM (
        SELECT id FROM cases
        WHERE id = ANY (p_ids)
          AND (status = 'new' OR (status = 'in_review' AND lease_until < p_now))
        FOR UPDATE SKIP LOCKED
    ) AS free;
    IF v_free <> cardinality(p_ids) THEN
        RETURN;
    END IF;
    INSERT INTO audit_events (at, actor, action, subject, detail, prev_hash, hash)
    SELECT p_now, event.actor, p_action, event.subject, p_detail, event.prev, event.hash
    FROM unnest(p_owners, p_subjects, p_prevs, p_hashes) WITH ORDINALITY
        AS event (actor, subject, prev, hash, n)
    ORDER BY event.n;
    RETURN QUERY
    UPDATE cases
    SET status = 'in_review', assignee = claim.owner, lease_until = p_lease_until,
        claimed_reports = cases.report_count, claimed_at = p_now, updated_at = p_now
    FROM unnest(p_ids, p_owners) AS claim (id, owner)
    WHERE cases.id = claim.id
    RETURNING cases.*;
END
$$
"""

DROP = (
    "DROP FUNCTION IF EXISTS raabta_claim_cases(integer[], text[], timestamptz, timestamptz, text, text, "
    "text[], json, text[], text[])"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP)
