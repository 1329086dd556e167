-- The events bench/admin_pages.py loads: 23 days at one every 2 s, 6 types, 5 teams,
-- 200,000 prospects, one in a hundred failed. Run through psycopg with two parameters,
-- types and rows, so a literal percent sign is written twice.
INSERT INTO django_kakiyo_webhookevent (
    event_type, team_id, agent_id, campaign_id, chat_id, prospect_id, occurred_at,
    received_at, last_received_at, delivery_count, payload, raw_body, headers, remote_addr,
    signature_method, dedup_key, status, status_changed_at, invalid_reason, next_attempt_at,
    attempts, last_error, last_traceback, processed_at, history)
SELECT
    (%(types)s::text[])[1 + n %% 6],
    'team_' || (n %% 5),
    'agent_' || (n %% 50),
    'campaign_' || (n %% 500),
    'chat_' || (n %% 300000),
    'prospect_' || (n %% 200000),
    now() - (n * interval '2 seconds'),
    now() - (n * interval '2 seconds'),
    now() - (n * interval '2 seconds'),
    1,
    jsonb_build_object('event', (%(types)s::text[])[1 + n %% 6], 'teamId', 'team_' || (n %% 5),
        'data', jsonb_build_object('prospectId', 'prospect_' || (n %% 200000),
                                   'message', 'Hello there, number ' || n)),
    convert_to('{"event":"bench","n":' || n || '}', 'UTF8'),
    '{}'::jsonb,
    '203.0.113.9',
    'raw',
    encode(sha256(convert_to('bench-' || n, 'UTF8')), 'hex'),
    CASE WHEN n %% 100 = 0 THEN 'failed' WHEN n %% 1000 = 1 THEN 'queued' ELSE 'processed' END,
    now(), '', NULL, 1, '', '', now(), '[]'::jsonb
FROM generate_series(1, %(rows)s) AS n
