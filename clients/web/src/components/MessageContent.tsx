import type { Message } from '@parley/sdk';
import type { JSX } from 'preact';

import type { ChatState } from '../state/ChatState';
import { MessageAttachments } from './Attachments';

/** A message's body, and the files sent with it (docs/attachments.md). */
export function MessageContent(props: { state: ChatState; message: Message }): JSX.Element {
  const { message } = props;
  if (message.erased) {
    return <p class="message-body erased">Message erased</p>;
  }
  if (message.deleted) {
    return <p class="message-body erased">Message deleted</p>;
  }
  const attachments = message.attachments ?? [];
  // A file sent without words carries its name as the body (a message needs one): shown once.
  const bodyIsName = attachments.length === 1 && attachments[0]?.name === message.body;
  return (
    <>
      {attachments.length > 0 && (
        <MessageAttachments state={props.state} attachments={attachments} />
      )}
      {!bodyIsName && <p class="message-body">{message.body}</p>}
    </>
  );
}
