"""A small multilingual labelled corpus, generated from templates for the classifier tests.

Four classes in English, Hungarian, Indonesian and German. Frames, greetings
and names are shared by every class, so a model can only score by learning
the class vocabulary; some portal examples carry a wrong category, as users
misfile. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from router.examples import LabelledExample

LABELS = ("network", "accounts/password", "hardware", "billing/invoice")
LANGUAGES = ("en", "hu", "id", "de")
CHANNELS = ("email", "portal", "telegram", "phone")
PORTAL_CATEGORIES = {
    "network": "Network",
    "accounts/password": "Accounts",
    "hardware": "Hardware",
    "billing/invoice": "Billing",
}


@dataclass(frozen=True)
class Vocabulary:
    problems: tuple[str, ...]
    details: tuple[str, ...]
    subjects: tuple[str, ...]


@dataclass(frozen=True)
class Language:
    frames: tuple[str, ...]
    times: tuple[str, ...]
    names: tuple[str, ...]
    generic_subjects: tuple[str, ...]
    classes: dict[str, Vocabulary]


ENGLISH = Language(
    frames=(
        "Hello, {p}. {d}",
        "Hi team, {p}. {d} Can you help?",
        "{P}. {d} Thanks.",
        "Good morning, since {t} {p}. {d}",
        "Dear support, {p}. {d} Regards, {n}",
        "{P}! {d} Please have a look, {n}",
    ),
    times=("this morning", "yesterday", "Monday", "last week", "the update"),
    names=("Anna", "Peter", "John", "Maria", "Sam"),
    generic_subjects=("Help needed", "Problem", "Urgent", "Question", "Issue"),
    classes={
        "network": Vocabulary(
            problems=(
                "the VPN keeps disconnecting",
                "I cannot connect to the VPN from home",
                "the wifi in the meeting room drops every few minutes",
                "the internet connection is very slow on my floor",
                "I can't reach the shared network drive",
                "the wireless network does not show up on my laptop",
                "the remote access client says the tunnel failed",
                "the ethernet port at my desk has no link",
            ),
            details=(
                "It says the gateway timed out.",
                "I already restarted the router.",
                "Colleagues next to me have the same issue with the connection.",
                "The network cable looks fine.",
                "Ping to the server fails.",
                "It worked yesterday on the office network.",
            ),
            subjects=(
                "VPN not working",
                "Wifi problem",
                "No internet",
                "Network drive unreachable",
                "Connection drops",
            ),
        ),
        "accounts/password": Vocabulary(
            problems=(
                "I forgot my password",
                "my account is locked after too many attempts",
                "I need a password reset",
                "I cannot log in to the portal",
                "the two-factor code is not accepted",
                "my password expired and I can't change it",
                "the login page says my username is invalid",
                "I lost my authenticator app with my old phone",
            ),
            details=(
                "I tried the reset link but it expired.",
                "My username is the same as my email.",
                "I need access before the deadline today.",
                "The sign-in page just reloads.",
                "I get the message invalid credentials.",
                "I changed my phone last week.",
            ),
            subjects=("Password reset", "Account locked", "Cannot log in", "Login problem", "2FA not working"),
        ),
        "hardware": Vocabulary(
            problems=(
                "the printer on the second floor is jammed",
                "my laptop does not turn on anymore",
                "the monitor flickers and goes black",
                "the keyboard is missing several keys",
                "the docking station does not charge my notebook",
                "the printer prints blank pages",
                "my mouse stopped working",
                "the laptop battery is swollen",
            ),
            details=(
                "I already replaced the toner.",
                "The power light blinks orange.",
                "I tried another cable.",
                "It makes a clicking noise.",
                "The device is about three years old.",
                "The asset tag number is on the bottom.",
            ),
            subjects=("Printer broken", "Laptop dead", "Monitor issue", "Broken keyboard", "Docking station"),
        ),
        "billing/invoice": Vocabulary(
            problems=(
                "I was charged twice this month",
                "the invoice amount is wrong",
                "I need a copy of last month's invoice",
                "please refund the cancelled order",
                "my payment was declined",
                "the VAT number on the invoice is missing",
                "I want to change the billing address",
                "the subscription fee increased without notice",
            ),
            details=(
                "The invoice number is in the attachment.",
                "We paid by bank transfer on the 3rd.",
                "Our accounting department needs it by Friday.",
                "The card was charged anyway.",
                "Please send a corrected invoice.",
                "Our purchase order number must be on it.",
            ),
            subjects=("Invoice question", "Double charge", "Refund request", "Payment declined", "Billing address"),
        ),
    },
)

HUNGARIAN = Language(
    frames=(
        "Jó napot, {p}. {d}",
        "Sziasztok, {p}. {d} Tudnátok segíteni?",
        "{P}. {d} Köszönöm.",
        "Üdv, {t} óta {p}. {d}",
        "Tisztelt Ügyfélszolgálat! {P}. {d} Üdvözlettel: {n}",
        "{P}! {d} Kérem, nézzék meg. {n}",
    ),
    times=("reggel", "tegnap", "hétfő", "múlt hét", "a frissítés"),
    names=("Ödön", "Éva", "Gergő", "Zsófia", "Bence"),
    generic_subjects=("Segítség", "Probléma", "SÜRGŐS", "Kérdés", "Hibabejelentés"),
    classes={
        "network": Vocabulary(
            problems=(
                "a VPN folyamatosan megszakad",
                "otthonról nem tudok csatlakozni a VPN-hez",
                "a tárgyaló wifi hálózata pár percenként leesik",
                "nagyon lassú az internetkapcsolat az emeletünkön",
                "nem érem el a megosztott hálózati meghajtót",
                "a laptopom nem látja a vezeték nélküli hálózatot",
                "a távoli elérés kliens szerint az alagút nem jött létre",
                "az asztalomnál lévő hálózati aljzat nem működik",
            ),
            details=(
                "Azt írja, hogy időtúllépés történt.",
                "A routert már újraindítottam.",
                "A mellettem ülő kollégáknál is akadozik a kapcsolat.",
                "A hálózati kábel rendben van.",
                "A szerver pingelése sikertelen.",
                "Tegnap még működött az irodai hálózaton.",
            ),
            subjects=(
                "Nem működik a VPN",
                "Wifi hiba",
                "Nincs internet",
                "Hálózati meghajtó nem elérhető",
                "Megszakad a kapcsolat",
            ),
        ),
        "accounts/password": Vocabulary(
            problems=(
                "elfelejtettem a jelszavam",
                "túl sok próbálkozás után zárolták a fiókomat",
                "jelszó visszaállításra van szükségem",
                "nem tudok bejelentkezni a portálra",
                "a kétlépcsős azonosítás kódját nem fogadja el",
                "lejárt a jelszavam és nem tudom megváltoztatni",
                "a bejelentkező oldal szerint a felhasználónevem érvénytelen",
                "elvesztettem a hitelesítő alkalmazást a régi telefonnal",
            ),
            details=(
                "A visszaállító link már lejárt.",
                "A felhasználónevem megegyezik az e-mail címemmel.",
                "Ma határidő előtt hozzáférésre van szükségem.",
                "A belépési oldal csak újratöltődik.",
                "Hibás hitelesítési adatok üzenetet kapok.",
                "Múlt héten telefont cseréltem.",
            ),
            subjects=(
                "Jelszó visszaállítás",
                "Zárolt fiók",
                "Nem tudok belépni",
                "Bejelentkezési hiba",
                "Kétlépcsős azonosítás",
            ),
        ),
        "hardware": Vocabulary(
            problems=(
                "a második emeleti nyomtatóban elakadt a papír",
                "a laptopom nem kapcsol be",
                "a monitor villog és elsötétül",
                "a billentyűzetről hiányzik néhány gomb",
                "a dokkoló nem tölti a notebookomat",
                "a nyomtató üres lapokat nyomtat",
                "az egerem nem működik",
                "a laptop akkumulátora felpúposodott",
            ),
            details=(
                "A tonert már kicseréltem.",
                "A bekapcsoló lámpa narancssárgán villog.",
                "Próbáltam másik kábellel.",
                "Kattogó hangot ad.",
                "A gép körülbelül három éves.",
                "A leltári szám a gép alján van.",
            ),
            subjects=("Nyomtató hiba", "Nem indul a laptop", "Monitor probléma", "Hibás billentyűzet", "Dokkoló"),
        ),
        "billing/invoice": Vocabulary(
            problems=(
                "ebben a hónapban kétszer terheltek meg",
                "hibás a számla összege",
                "szükségem van a múlt havi számla másolatára",
                "kérem, térítsék vissza a lemondott rendelés árát",
                "elutasították a fizetésemet",
                "hiányzik az adószám a számláról",
                "szeretném módosítani a számlázási címet",
                "előzetes értesítés nélkül emelkedett az előfizetési díj",
            ),
            details=(
                "A számla sorszáma a mellékletben van.",
                "Banki átutalással fizettünk 3-án.",
                "A könyvelésünknek péntekig kell.",
                "A kártyámat mégis megterhelték.",
                "Kérek egy helyesbített számlát.",
                "A megrendelésünk számának rajta kell lennie.",
            ),
            subjects=(
                "Számlával kapcsolatos kérdés",
                "Dupla terhelés",
                "Visszatérítés",
                "Sikertelen fizetés",
                "Számlázási cím",
            ),
        ),
    },
)

INDONESIAN = Language(
    frames=(
        "Halo, {p}. {d}",
        "Hai tim, {p}. {d} Bisa dibantu?",
        "{P}. {d} Terima kasih.",
        "Selamat pagi, sejak {t} {p}. {d}",
        "Yth. tim dukungan, {p}. {d} Salam, {n}",
        "{P}! {d} Mohon dicek, {n}",
    ),
    times=("tadi pagi", "kemarin", "hari Senin", "minggu lalu", "pembaruan"),
    names=("Budi", "Siti", "Agus", "Dewi", "Rina"),
    generic_subjects=("Butuh bantuan", "Masalah", "Mendesak", "Pertanyaan", "Kendala"),
    classes={
        "network": Vocabulary(
            problems=(
                "VPN terus terputus",
                "saya tidak bisa terhubung ke VPN dari rumah",
                "wifi di ruang rapat putus setiap beberapa menit",
                "koneksi internet sangat lambat di lantai kami",
                "saya tidak bisa mengakses drive jaringan bersama",
                "jaringan nirkabel tidak muncul di laptop saya",
                "aplikasi akses jarak jauh bilang tunnel gagal",
                "port ethernet di meja saya tidak ada sinyal",
            ),
            details=(
                "Muncul pesan gateway timeout.",
                "Saya sudah restart router.",
                "Rekan di sebelah saya juga mengalami koneksi yang sama.",
                "Kabel jaringan terlihat baik.",
                "Ping ke server gagal.",
                "Kemarin masih bisa di jaringan kantor.",
            ),
            subjects=(
                "VPN tidak berfungsi",
                "Masalah wifi",
                "Tidak ada internet",
                "Drive jaringan tidak bisa diakses",
                "Koneksi putus",
            ),
        ),
        "accounts/password": Vocabulary(
            problems=(
                "saya lupa kata sandi",
                "akun saya terkunci setelah terlalu banyak percobaan",
                "saya perlu reset kata sandi",
                "saya tidak bisa login ke portal",
                "kode verifikasi dua langkah tidak diterima",
                "kata sandi saya kedaluwarsa dan tidak bisa diganti",
                "halaman login bilang nama pengguna saya tidak valid",
                "aplikasi autentikator hilang bersama ponsel lama",
            ),
            details=(
                "Tautan reset sudah kedaluwarsa.",
                "Nama pengguna saya sama dengan email saya.",
                "Saya butuh akses sebelum tenggat hari ini.",
                "Halaman masuk hanya memuat ulang.",
                "Muncul pesan kredensial tidak valid.",
                "Minggu lalu saya ganti ponsel.",
            ),
            subjects=(
                "Reset kata sandi",
                "Akun terkunci",
                "Tidak bisa login",
                "Masalah login",
                "Verifikasi dua langkah gagal",
            ),
        ),
        "hardware": Vocabulary(
            problems=(
                "printer di lantai dua macet kertasnya",
                "laptop saya tidak mau menyala",
                "monitor berkedip lalu layar hitam",
                "beberapa tombol keyboard hilang",
                "docking station tidak mengisi daya notebook saya",
                "printer mencetak halaman kosong",
                "mouse saya berhenti berfungsi",
                "baterai laptop saya menggembung",
            ),
            details=(
                "Toner sudah saya ganti.",
                "Lampu daya berkedip oranye.",
                "Sudah saya coba kabel lain.",
                "Ada bunyi klik dari perangkat.",
                "Perangkat ini sekitar tiga tahun.",
                "Nomor aset ada di bagian bawah.",
            ),
            subjects=("Printer rusak", "Laptop mati", "Masalah monitor", "Keyboard rusak", "Docking station"),
        ),
        "billing/invoice": Vocabulary(
            problems=(
                "saya ditagih dua kali bulan ini",
                "jumlah pada faktur salah",
                "saya perlu salinan faktur bulan lalu",
                "mohon kembalikan dana pesanan yang dibatalkan",
                "pembayaran saya ditolak",
                "NPWP tidak tercantum di faktur",
                "saya ingin mengubah alamat penagihan",
                "biaya langganan naik tanpa pemberitahuan",
            ),
            details=(
                "Nomor faktur ada di lampiran.",
                "Kami membayar lewat transfer bank tanggal 3.",
                "Bagian akuntansi kami memerlukannya sebelum Jumat.",
                "Kartu saya tetap ditagih.",
                "Tolong kirim faktur yang sudah diperbaiki.",
                "Nomor PO kami harus tercantum.",
            ),
            subjects=(
                "Pertanyaan faktur",
                "Tagihan ganda",
                "Permintaan refund",
                "Pembayaran ditolak",
                "Alamat penagihan",
            ),
        ),
    },
)

GERMAN = Language(
    frames=(
        "Hallo, {p}. {d}",
        "Hallo Team, {p}. {d} Könnt ihr helfen?",
        "{P}. {d} Danke.",
        "Guten Morgen, seit {t} habe ich dieses Problem: {p}. {d}",
        "Sehr geehrtes Support-Team, {p}. {d} Mit freundlichen Grüßen, {n}",
        "{P}! {d} Bitte schaut es euch an, {n}",
    ),
    times=("heute früh", "gestern", "Montag", "letzter Woche", "dem Update"),
    names=("Jürgen", "Sabine", "Lukas", "Müller", "Jörg"),
    generic_subjects=("Hilfe", "Problem", "DRINGEND", "Frage", "Störung"),
    classes={
        "network": Vocabulary(
            problems=(
                "das VPN bricht ständig ab",
                "ich kann mich von zu Hause nicht mit dem VPN verbinden",
                "das WLAN im Besprechungsraum fällt alle paar Minuten aus",
                "die Internetverbindung auf unserer Etage ist sehr langsam",
                "ich erreiche das freigegebene Netzlaufwerk nicht",
                "das drahtlose Netzwerk wird auf meinem Laptop nicht angezeigt",
                "der Fernzugriff meldet, dass der Tunnel fehlgeschlagen ist",
                "die Netzwerkdose an meinem Platz hat keine Verbindung",
            ),
            details=(
                "Es erscheint eine Zeitüberschreitung am Gateway.",
                "Den Router habe ich schon neu gestartet.",
                "Die Kollegen neben mir haben dieselben Verbindungsprobleme.",
                "Das Netzwerkkabel scheint in Ordnung.",
                "Ping zum Server schlägt fehl.",
                "Gestern ging es im Büronetz noch.",
            ),
            subjects=(
                "VPN geht nicht",
                "WLAN-Problem",
                "Kein Internet",
                "Netzlaufwerk nicht erreichbar",
                "Verbindung bricht ab",
            ),
        ),
        "accounts/password": Vocabulary(
            problems=(
                "ich habe mein Passwort vergessen",
                "mein Konto ist nach zu vielen Versuchen gesperrt",
                "ich brauche ein neues Passwort",
                "ich kann mich nicht im Portal anmelden",
                "der Code der Zwei-Faktor-Authentifizierung wird nicht akzeptiert",
                "mein Kennwort ist abgelaufen und ich kann es nicht ändern",
                "die Anmeldeseite sagt, mein Benutzername sei ungültig",
                "ich habe die Authenticator-App mit dem alten Handy verloren",
            ),
            details=(
                "Der Link zum Zurücksetzen ist abgelaufen.",
                "Mein Benutzername ist meine E-Mail-Adresse.",
                "Ich brauche den Zugang heute noch vor der Frist.",
                "Die Anmeldeseite lädt nur neu.",
                "Ich bekomme die Meldung ungültige Anmeldedaten.",
                "Ich habe letzte Woche das Handy gewechselt.",
            ),
            subjects=(
                "Passwort zurücksetzen",
                "Konto gesperrt",
                "Anmeldung nicht möglich",
                "Login-Problem",
                "Zwei-Faktor geht nicht",
            ),
        ),
        "hardware": Vocabulary(
            problems=(
                "der Drucker im zweiten Stock hat einen Papierstau",
                "mein Laptop lässt sich nicht mehr einschalten",
                "der Bildschirm flackert und wird schwarz",
                "an der Tastatur fehlen mehrere Tasten",
                "die Dockingstation lädt mein Notebook nicht",
                "der Drucker druckt leere Seiten",
                "meine Maus funktioniert nicht mehr",
                "der Akku des Laptops ist aufgebläht",
            ),
            details=(
                "Den Toner habe ich schon getauscht.",
                "Die Betriebsanzeige blinkt orange.",
                "Ich habe ein anderes Kabel probiert.",
                "Es macht ein klickendes Geräusch.",
                "Das Gerät ist etwa drei Jahre alt.",
                "Die Inventarnummer steht auf der Unterseite.",
            ),
            subjects=("Drucker defekt", "Laptop tot", "Bildschirmproblem", "Tastatur kaputt", "Dockingstation"),
        ),
        "billing/invoice": Vocabulary(
            problems=(
                "mir wurde diesen Monat doppelt abgebucht",
                "der Rechnungsbetrag ist falsch",
                "ich brauche eine Kopie der Rechnung vom letzten Monat",
                "bitte erstatten Sie die stornierte Bestellung",
                "meine Zahlung wurde abgelehnt",
                "auf der Rechnung fehlt die Umsatzsteuer-ID",
                "ich möchte die Rechnungsadresse ändern",
                "die Abogebühr ist ohne Ankündigung gestiegen",
            ),
            details=(
                "Die Rechnungsnummer steht im Anhang.",
                "Wir haben am 3. per Überweisung bezahlt.",
                "Unsere Buchhaltung braucht sie bis Freitag.",
                "Die Karte wurde trotzdem belastet.",
                "Bitte senden Sie eine korrigierte Rechnung.",
                "Unsere Bestellnummer muss darauf stehen.",
            ),
            subjects=(
                "Frage zur Rechnung",
                "Doppelte Abbuchung",
                "Erstattung",
                "Zahlung abgelehnt",
                "Rechnungsadresse",
            ),
        ),
    },
)

LANGUAGE_TABLE = {"en": ENGLISH, "hu": HUNGARIAN, "id": INDONESIAN, "de": GERMAN}


def generate(per_language_and_label: int = 12, seed: int = 7, misfiled: float = 0.25) -> list[LabelledExample]:
    """`per_language_and_label` distinct examples for each language and label."""
    rng = random.Random(seed)
    examples: list[LabelledExample] = []
    for code in LANGUAGES:
        language = LANGUAGE_TABLE[code]
        for label in LABELS:
            seen: set[str] = set()
            while len(seen) < per_language_and_label:
                example = _one(rng, language, label, misfiled)
                if example.text not in seen:
                    seen.add(example.text)
                    examples.append(example)
    return examples


def shuffled_labels(examples: list[LabelledExample], seed: int = 1) -> list[LabelledExample]:
    """The same texts with their labels permuted: what a broken labelling pipeline produces."""
    labels = [example.label for example in examples]
    random.Random(seed).shuffle(labels)
    return [
        LabelledExample(e.text, label, e.subject, e.channel, e.portal_category)
        for e, label in zip(examples, labels, strict=True)
    ]


def _one(rng: random.Random, language: Language, label: str, misfiled: float) -> LabelledExample:
    vocabulary = language.classes[label]
    problem = rng.choice(vocabulary.problems)
    frame = rng.choice(language.frames)
    text = frame.format(
        p=problem,
        P=problem[0].upper() + problem[1:],
        d=rng.choice(vocabulary.details),
        t=rng.choice(language.times),
        n=rng.choice(language.names),
    )
    subject = rng.choice(vocabulary.subjects) if rng.random() < 0.7 else rng.choice(language.generic_subjects)
    channel = rng.choice(CHANNELS)
    category = None
    if channel == "portal":
        picked = label if rng.random() >= misfiled else rng.choice([other for other in LABELS if other != label])
        category = PORTAL_CATEGORIES[picked]
    return LabelledExample(text=text, label=label, subject=subject, channel=channel, portal_category=category)
