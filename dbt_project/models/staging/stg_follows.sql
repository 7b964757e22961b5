-- grain: event_id (the first occurrence of each follow/unfollow event)
-- The dedupe lives in macros/staging.sql so the incremental follow models apply the very same
-- rule to the affected events only.
{{ dw_first_follow_copies(source('raw', 'follows')) }}
