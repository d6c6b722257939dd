"""Adapter from the domain's SmsSender to the SMPP layer's process-wide pool (binds stay warm)."""

from __future__ import annotations

from mcn_core.logic.send import MessageOutcome, PartOutcome
from mcn_core.models.notice import OutgoingSms


class PooledSmsSender:
    def send(self, sms: OutgoingSms, *, reference: int | None, part_numbers: list[int] | None) -> MessageOutcome:
        from mcn_core.dal.secrets import read_secret
        from mcn_smpp import SmppConfig, get_pool
        from mcn_smpp.credentials import SecretsManagerCredentials

        # Config read each time (cheap): the pool is rebuilt only if the environment changed.
        config = SmppConfig.from_env()
        credentials = (
            SecretsManagerCredentials(config.password_secret_id, json_key=config.password_secret_key, fetch=read_secret)
            if config.password_secret_id
            else None
        )
        result = get_pool(config, credentials=credentials).send(
            sms.destination,
            sms.text,
            # A caller's own number keeps its '+': the layer sends it with TON/NPI international/E.164.
            source=sms.source,
            national_shift=sms.national_shift,
            reference=reference,
            part_numbers=part_numbers,
        )
        if result.lost_responses:
            from mcn_core.observability import count

            count("SmsLostResponse", result.lost_responses)  # SMPP_LOST_RESPONSE_POLICY decided the outcome
        return MessageOutcome(
            reference=result.reference,
            parts=tuple(
                PartOutcome(
                    part_number=p.part_number,
                    part_total=p.part_total,
                    outcome=p.outcome.value,
                    message_id=p.message_id,
                    command_status=p.command_status,
                    reason=p.reason,
                    lost_response=p.lost_response,
                )
                for p in result.parts
            ),
        )
