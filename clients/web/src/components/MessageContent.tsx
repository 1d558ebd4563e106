import type { Message } from '@parley/sdk';
import type { JSX } from 'preact';

/**
 * A message's body. The seam for attachments: when the attachments feature lands, its metadata
 * arrives in `message.meta` (docs/protocol.md: meta is the app's), and the thumbnails render here,
 * beside the text. Nothing is shown for meta until then.
 */
export function MessageContent(props: { message: Message }): JSX.Element {
  const { message } = props;
  if (message.erased) {
    return <p class="message-body erased">Message erased</p>;
  }
  return <p class="message-body">{message.body}</p>;
}
