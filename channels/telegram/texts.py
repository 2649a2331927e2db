"""What the bot says, in the user's language where a translation exists (else English).

Telegram tells the user's interface language as an IETF tag (`de`, `pt-br`);
only its primary subtag is used.
"""

from __future__ import annotations

DEFAULT = "en"

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "help": (
            "Hello! This is the service desk. Write your request here, in one message or several; "
            "you can attach photos, documents and voice messages. Your first message opens a ticket "
            "and you get its reference; your further messages in this chat are added to it.\n\n"
            "Commands:\n/new – start a new ticket\n/status – the reference and state of your ticket\n"
            "/help – this help"
        ),
        "ack": (
            "Thank you, your request is registered as {ref}. Messages you send in this chat are added "
            "to it; send /new to start a new request."
        ),
        "new_prompt": "All right: your next message opens a new ticket.",
        "status": "{ref} – {subject}\nState: {state}",
        "status_none": "You have no open ticket. Just write your request to open one.",
        "open": "open",
        "closed": "closed",
        "file_too_large": (
            "The file {name} ({size}) is larger than the limit of {limit} and was not attached. Your "
            "message was registered; please send the file another way (for example by email)."
        ),
        "file_failed": "The file {name} could not be fetched and was not attached; please send it again.",
        "contact_linked": "Thank you, the phone number {phone} is now linked to your requests.",
        "contact_not_own": "Please share your own contact (with the button), not someone else's.",
    },
    "hu": {
        "help": (
            "Üdvözöljük! Ez az ügyfélszolgálat. Írja meg itt a kérését egy vagy több üzenetben; "
            "fényképet, dokumentumot és hangüzenetet is csatolhat. Az első üzenetével jegy nyílik, "
            "és megkapja az azonosítóját; a további üzenetei ebben a csevegésben ehhez a jegyhez kerülnek.\n\n"
            "Parancsok:\n/new – új jegy nyitása\n/status – a jegye azonosítója és állapota\n/help – ez a súgó"
        ),
        "ack": (
            "Köszönjük, kérését {ref} azonosítóval rögzítettük. Az ebben a csevegésben küldött további "
            "üzenetei ehhez a jegyhez kerülnek; új kéréshez küldje a /new parancsot."
        ),
        "new_prompt": "Rendben: a következő üzenete új jegyet nyit.",
        "status": "{ref} – {subject}\nÁllapot: {state}",
        "status_none": "Nincs nyitott jegye. Írja meg a kérését, és nyitunk egyet.",
        "open": "nyitott",
        "closed": "lezárt",
        "file_too_large": (
            "A(z) {name} fájl ({size}) nagyobb a megengedett {limit} méretnél, ezért nem csatoltuk. "
            "Az üzenetét rögzítettük; a fájlt kérjük, küldje el más módon (például e-mailben)."
        ),
        "file_failed": "A(z) {name} fájlt nem sikerült letölteni, ezért nem csatoltuk; kérjük, küldje el újra.",
        "contact_linked": "Köszönjük, a(z) {phone} telefonszámot összekapcsoltuk a kéréseivel.",
        "contact_not_own": "Kérjük, a saját névjegyét ossza meg (a gombbal), ne másét.",
    },
    "id": {
        "help": (
            "Halo! Ini adalah layanan bantuan (service desk). Tulis permintaan Anda di sini, dalam satu "
            "atau beberapa pesan; Anda dapat melampirkan foto, dokumen, dan pesan suara. Pesan pertama "
            "membuka tiket dan Anda menerima nomor referensinya; pesan berikutnya di obrolan ini "
            "ditambahkan ke tiket tersebut.\n\n"
            "Perintah:\n/new – buat tiket baru\n/status – nomor dan status tiket Anda\n/help – bantuan ini"
        ),
        "ack": (
            "Terima kasih, permintaan Anda telah dicatat dengan nomor {ref}. Pesan yang Anda kirim di "
            "obrolan ini ditambahkan ke tiket tersebut; kirim /new untuk membuat permintaan baru."
        ),
        "new_prompt": "Baik: pesan Anda berikutnya akan membuka tiket baru.",
        "status": "{ref} – {subject}\nStatus: {state}",
        "status_none": "Anda tidak memiliki tiket yang terbuka. Tulis saja permintaan Anda untuk membukanya.",
        "open": "terbuka",
        "closed": "ditutup",
        "file_too_large": (
            "Berkas {name} ({size}) melebihi batas {limit} dan tidak dilampirkan. Pesan Anda sudah "
            "dicatat; silakan kirim berkas tersebut dengan cara lain (misalnya lewat email)."
        ),
        "file_failed": "Berkas {name} tidak dapat diunduh dan tidak dilampirkan; silakan kirim ulang.",
        "contact_linked": "Terima kasih, nomor telepon {phone} kini terhubung dengan permintaan Anda.",
        "contact_not_own": "Silakan bagikan kontak Anda sendiri (dengan tombol), bukan kontak orang lain.",
    },
    "de": {
        "help": (
            "Hallo! Hier erreichen Sie den Service Desk. Schreiben Sie Ihr Anliegen in einer oder mehreren "
            "Nachrichten; Sie können Fotos, Dokumente und Sprachnachrichten anhängen. Ihre erste Nachricht "
            "eröffnet ein Ticket, dessen Nummer Sie erhalten; weitere Nachrichten in diesem Chat werden "
            "diesem Ticket hinzugefügt.\n\n"
            "Befehle:\n/new – ein neues Ticket beginnen\n/status – Nummer und Stand Ihres Tickets\n"
            "/help – diese Hilfe"
        ),
        "ack": (
            "Danke, Ihr Anliegen wurde als {ref} erfasst. Weitere Nachrichten in diesem Chat werden "
            "diesem Ticket hinzugefügt; senden Sie /new für ein neues Anliegen."
        ),
        "new_prompt": "In Ordnung: Ihre nächste Nachricht eröffnet ein neues Ticket.",
        "status": "{ref} – {subject}\nStatus: {state}",
        "status_none": "Sie haben kein offenes Ticket. Schreiben Sie einfach Ihr Anliegen, um eines zu eröffnen.",
        "open": "offen",
        "closed": "geschlossen",
        "file_too_large": (
            "Die Datei {name} ({size}) ist größer als die Grenze von {limit} und wurde nicht angehängt. "
            "Ihre Nachricht wurde erfasst; bitte senden Sie die Datei auf anderem Weg (zum Beispiel per E-Mail)."
        ),
        "file_failed": (
            "Die Datei {name} konnte nicht heruntergeladen werden und wurde nicht angehängt; "
            "bitte senden Sie sie erneut."
        ),
        "contact_linked": "Danke, die Telefonnummer {phone} ist jetzt mit Ihren Anliegen verknüpft.",
        "contact_not_own": (
            "Bitte teilen Sie Ihren eigenen Kontakt (über die Schaltfläche), nicht den einer anderen Person."
        ),
    },
    "ru": {
        "help": (
            "Здравствуйте! Это служба поддержки. Опишите здесь ваш запрос одним или несколькими "
            "сообщениями; можно прикрепить фото, документы и голосовые сообщения. Первое сообщение "
            "открывает заявку, и вы получите её номер; следующие сообщения в этом чате добавляются к ней.\n\n"
            "Команды:\n/new – открыть новую заявку\n/status – номер и состояние вашей заявки\n"
            "/help – эта справка"
        ),
        "ack": (
            "Спасибо, ваш запрос зарегистрирован под номером {ref}. Сообщения в этом чате будут "
            "добавлены к нему; чтобы начать новый запрос, отправьте /new."
        ),
        "new_prompt": "Хорошо: ваше следующее сообщение откроет новую заявку.",
        "status": "{ref} – {subject}\nСостояние: {state}",
        "status_none": "У вас нет открытых заявок. Просто напишите ваш запрос, чтобы открыть новую.",
        "open": "открыта",
        "closed": "закрыта",
        "file_too_large": (
            "Файл {name} ({size}) превышает ограничение {limit} и не был прикреплён. Ваше сообщение "
            "зарегистрировано; пожалуйста, отправьте файл другим способом (например, по электронной почте)."
        ),
        "file_failed": "Файл {name} не удалось загрузить, он не был прикреплён; пожалуйста, отправьте его ещё раз.",
        "contact_linked": "Спасибо, номер телефона {phone} теперь связан с вашими запросами.",
        "contact_not_own": "Пожалуйста, поделитесь своим собственным контактом (кнопкой), а не чужим.",
    },
}


def language_of(code: str | None) -> str:
    primary = (code or "").split("-", 1)[0].split("_", 1)[0].lower()
    return primary if primary in TEXTS else DEFAULT


def text(code: str | None, key: str, **values: object) -> str:
    return TEXTS[language_of(code)][key].format(**values)


def state_word(code: str | None, status: str) -> str:
    return TEXTS[language_of(code)].get(status, status) if status in ("open", "closed") else status


def size_text(size: int) -> str:
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} B"
