-- An outage's lost time handed back to provers (issue #11): the first Tick after a restart or a
-- rebuild extends the due times that fell while nothing ran (matching/command.h, Tick), with a
-- due_extended event per assignment; the journal writes the assignment's new due_at_ms.
ALTER TYPE event_kind ADD VALUE 'due_extended';
