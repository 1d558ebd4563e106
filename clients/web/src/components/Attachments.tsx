// Files sent with a message (docs/attachments.md): an image as its thumbnail linking to the full
// picture, anything else as its name and size with a download link. Both by signed links from
// the server (attach.url), which live minutes: a link is asked again when the pointer or the
// focus comes to it, so that a click never lands on an expired one.
import type { Attachment, AttachmentVariant } from '@parley/sdk';
import type { JSX } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

import type { ChatState } from '../state/ChatState';

/** `1.2 MB`, `340 KB`, `12 bytes`. */
export function sizeOf(bytes: number): string {
  if (bytes < 1000) {
    return `${bytes} bytes`;
  }
  if (bytes < 1000 * 1000) {
    return `${Math.round(bytes / 1000)} KB`;
  }
  return `${(bytes / (1000 * 1000)).toFixed(1)} MB`;
}

/** The signed link of an attachment, and a function that renews it. */
function useLink(
  state: ChatState,
  id: string,
  variant?: AttachmentVariant,
): [string | null, () => void] {
  const [url, setUrl] = useState<string | null>(null);
  const mounted = useRef(true);
  const renew = useCallback(() => {
    state
      .linkOf(id, variant)
      .then((next) => {
        if (mounted.current) {
          setUrl(next);
        }
      })
      .catch(() => undefined); // not readable any more: the link stays as it was
  }, [state, id, variant]);
  useEffect(() => {
    mounted.current = true;
    renew();
    return () => {
      mounted.current = false;
    };
  }, [renew]);
  return [url, renew];
}

function ImageAttachment(props: { state: ChatState; attachment: Attachment }): JSX.Element {
  const { state, attachment } = props;
  const thumbnail = attachment.thumbnail;
  const [thumbnailUrl] = useLink(state, attachment.id, 'thumbnail');
  const [fullUrl, renew] = useLink(state, attachment.id);
  return (
    <a
      class="attachment-image"
      href={fullUrl ?? undefined}
      target="_blank"
      rel="noopener noreferrer"
      onMouseEnter={renew}
      onFocus={renew}
      onTouchStart={renew}
      title={`${attachment.name} (${sizeOf(attachment.size)})`}
    >
      {thumbnailUrl !== null ? (
        <img
          src={thumbnailUrl}
          alt={attachment.name}
          width={thumbnail?.width}
          height={thumbnail?.height}
        />
      ) : (
        <span class="attachment-placeholder">{attachment.name}</span>
      )}
    </a>
  );
}

function FileAttachment(props: { state: ChatState; attachment: Attachment }): JSX.Element {
  const { state, attachment } = props;
  const [url, renew] = useLink(state, attachment.id);
  return (
    <p class="attachment-file">
      <span class="attachment-name">{attachment.name}</span>{' '}
      <span class="attachment-size">{sizeOf(attachment.size)}</span>{' '}
      <a
        href={url ?? undefined}
        download={attachment.name}
        onMouseEnter={renew}
        onFocus={renew}
        onTouchStart={renew}
        aria-label={`Download ${attachment.name}`}
      >
        Download
      </a>
    </p>
  );
}

/** Every file of a message, in the sender's order. */
export function MessageAttachments(props: {
  state: ChatState;
  attachments: Attachment[];
}): JSX.Element {
  return (
    <ul class="attachments">
      {props.attachments.map((attachment) => (
        <li key={attachment.id}>
          {attachment.thumbnail ? (
            <ImageAttachment state={props.state} attachment={attachment} />
          ) : (
            <FileAttachment state={props.state} attachment={attachment} />
          )}
        </li>
      ))}
    </ul>
  );
}
