-- An ontology snapshot nothing refers to may be deleted (its terms, edges and alternative ids go with it, by the
-- foreign keys' cascade, which runs with the owner's rights): the org's role may DELETE snapshots, and nothing else
-- of the CAFA tables. The repository refuses while an annotation, prediction or evaluation set names it.
GRANT DELETE ON ontologies TO tessera_tenant;
