-- grain: one row per raw.follows row (every copy, from any file) of an event_id that appears in a changed file
{#
  Every copy, not only the new one: the first copy wins, so the copy that fed the last build
  (its date, account, user) is among them. Empty on a full-scope run.
#}
-- depends_on: {{ ref('int_refresh_scope') }}
-- raw.follows is named in each subquery rather than in a shared CTE: DuckDB materializes a CTE
-- used twice, i.e. copies all of raw.follows (0.2-0.4 s at 1M orders) before filtering it.
with

changed_files as (

    select * from {{ ref('int_changed_files') }}
    where export = 'follows'

),

accounts as (

    select * from {{ ref('stg_accounts') }}

),

changed_event_ids as (

    select distinct raw_follows.event_id
    from {{ source('raw', 'follows') }} as raw_follows
    -- _landing_date lets DuckDB skip row groups by min/max; _source_file is the exact test.
    where raw_follows._landing_date in (select landing_date from changed_files)
      and raw_follows._source_file in (select source_file from changed_files)

),

versions as (

    select
        raw_follows.event_id,
        raw_follows.user_id,
        raw_follows.account_id,
        coalesce(accounts.brand, {{ dw_unmapped() }}) as brand,
        cast(raw_follows.occurred_at as date) as occurred_date

    from {{ source('raw', 'follows') }} as raw_follows

    left join accounts
        on raw_follows.account_id = accounts.account_id

    where {{ dw_key_in(source('raw', 'follows'), 'raw_follows', 'event_id', 'changed_event_ids') }}

)

select * from versions
{% if dw_scope_is_full() %}
where 1 = 0
{% endif %}
