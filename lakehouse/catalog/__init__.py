"""The catalog: table definitions declared once (``tables``), kept in the lake's own catalog or
the AWS Glue Data Catalog (``store``), written after each run and for published snapshots
(``register``)."""
