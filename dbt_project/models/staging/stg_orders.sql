-- grain: order_id (the latest version of each order across every export it appeared in)
-- The dedupe lives in macros/staging.sql so int_orders_counted's incremental path applies the
-- very same rule to the changed orders only.
{{ dw_latest_order_versions(source('raw', 'orders'), whole_table=true) }}
