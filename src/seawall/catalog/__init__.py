"""What Seawall knows about models: the catalog (models.py, models.yaml) and token counting
(tokens.py, with the BPE encodings shipped in encodings/)."""
