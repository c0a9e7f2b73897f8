-- A validated check stays valid; nothing to undo.
SELECT 1;
