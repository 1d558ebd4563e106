import type { Listing } from '@parley/sdk';
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';

import { describeError } from '../errors';
import type { ChatState } from '../state/ChatState';

/**
 * A listing as a marketplace page shows it, with its "Message owner" button: the entry point of
 * a listing-linked thread (docs/listings-and-moderation.md). A marketplace links here as
 * `#/listing/ID`.
 */
export function ListingPage(props: {
  state: ChatState;
  id: string;
  onOpened: (conv: string) => void;
}): JSX.Element {
  const { state, id } = props;
  const [listing, setListing] = useState<Listing | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    setListing(null);
    setError(null);
    state
      .getListing(id)
      .then(setListing)
      .catch((caught: unknown) => {
        setError(describeError(caught));
      });
  }, [state, id]);

  const messageOwner = async (): Promise<void> => {
    if (!listing) {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const conv = await state.openDirect(listing.owner, {
        type: 'listing',
        id: listing.id,
        ...(listing.title ? { title: listing.title } : {}),
      });
      props.onOpened(conv);
    } catch (caught) {
      setError(describeError(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="listing-page" aria-labelledby="listing-title">
      {listing === null && error === null && <p role="status">Loading the listing…</p>}
      {listing !== null && (
        <article class="listing-card">
          <h2 id="listing-title">{listing.title || listing.id}</h2>
          <dl>
            <dt>Status</dt>
            <dd data-listing-status={listing.status}>{listing.status}</dd>
            {listing.price !== null && (
              <>
                <dt>Price</dt>
                <dd>{String(listing.price)}</dd>
              </>
            )}
            <dt>Seller</dt>
            <dd>{listing.owner}</dd>
          </dl>
          {listing.owner === state.me ? (
            <p class="hint">This is your listing: buyers' messages appear in your conversations.</p>
          ) : (
            <button
              type="button"
              class="primary"
              disabled={busy}
              onClick={() => void messageOwner()}
            >
              Message owner
            </button>
          )}
        </article>
      )}
      {listing === null && error !== null && <h2 id="listing-title">Listing {id}</h2>}
      {error !== null && (
        <p class="form-error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
