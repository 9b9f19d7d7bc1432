-- A prediction set's terms are stored, per target, in the order their lines came (cafaeval's -max_terms keeps a
-- target's first terms); sets stored before kept no order, and say so.
ALTER TABLE prediction_sets ADD COLUMN lines_ordered boolean NOT NULL DEFAULT false;
