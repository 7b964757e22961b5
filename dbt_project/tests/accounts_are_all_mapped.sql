-- Facts of accounts missing from the roster are kept under `(unmapped)`; the merchant should
-- add them to accounts.csv, hence a warning rather than a failure.
{{ config(severity='warn') }}

select account_id
from {{ ref('dim_accounts') }}
where brand = {{ dw_unmapped() }}
