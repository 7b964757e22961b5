-- grain: source_file — landing files ingested after the latest watermark (every file when none)
with

ingested_files as (

    select * from {{ source('audit', 'ingested_files') }}

),

watermark as (

    select max(built_at) as built_at
    from {{ source('dw_state', 'dbt_watermark') }}

),

changed as (

    select
        ingested_files.path as source_file,
        ingested_files.export,
        ingested_files.landing_date,
        -- A row from before the `status` column existed cannot prove it was a first load.
        coalesce(ingested_files.status, 'replaced') as status,
        ingested_files.ingested_at

    from ingested_files

    cross join watermark

    where watermark.built_at is null
       or ingested_files.ingested_at > watermark.built_at

)

select * from changed
